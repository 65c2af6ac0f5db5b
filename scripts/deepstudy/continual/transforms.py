"""Each task's fixed input transformation, applied on the device to a batch of mixed tasks."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F  # noqa: N812
import xarray as xr


class TaskTransforms:
    """The transformations of a stream plan: a feature permutation or a rotation per task (or none)."""

    def __init__(self, plan: xr.Dataset, device: torch.device) -> None:
        self.kind = plan.attrs["transform"]
        self.permutation = None
        self.angle = None
        if self.kind == "permutation":
            self.permutation = torch.from_numpy(plan["permutation"].values).to(device)
        elif self.kind == "rotation":
            radians = plan["angle"].values * math.pi / 180.0
            self.angle = torch.from_numpy(radians).to(device=device, dtype=torch.float32)

    def __call__(self, x: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        """``x`` (batch, *input_shape) as seen in each example's ``task``."""
        if self.kind == "permutation":
            flat = x.flatten(1)
            return torch.gather(flat, 1, self.permutation[task]).view_as(x)
        if self.kind == "rotation":
            angle = self.angle[task]
            cos, sin = torch.cos(angle), torch.sin(angle)
            zero = torch.zeros_like(cos)
            theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
            grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
            # images are standardised: fill the corners with the value of a blank (lowest) pixel
            blank = x.amin(dim=(1, 2, 3), keepdim=True)
            return F.grid_sample(x - blank, grid, align_corners=False) + blank
        return x
