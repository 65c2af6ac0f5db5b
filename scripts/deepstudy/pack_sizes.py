"""How many runs one training job packs, decided when the workflow is planned (torch-free).

``pack: auto`` sizes packs from the config alone, so that every machine that plans the study (a
login node, and each cluster job re-reading the workflow) forms the same packs. Where the config
asks for a GPU (``device: cuda``), a pack holds as many runs as fit :data:`GPU_PARAMETERS` stacked
parameters and :data:`GPU_ACTIVATIONS` activations of one batch, at most :data:`MAX_PACK`: many
small trainings keep the GPU busy. Otherwise (``cpu``, or ``auto``, which may train on either) a
pack holds :data:`CPU_PACK` runs: on a CPU batched kernels pay little (conv nets even train slower
stacked), so its runs train one after another in one process (MLPs stacked), the process start
and imports are paid once per pack, and a study still has enough jobs to keep every core busy.
"""

from __future__ import annotations

import math

GPU_PARAMETERS = 4_000_000
GPU_ACTIVATIONS = 64_000_000
MAX_PACK = 64
CPU_PACK = 8
#: Architectures that can share a job; others (batch-normalised ResNet-18) train one per job.
PACKABLE = ("mlp", "conv")


def plans_on_gpu(config: dict) -> bool:
    """Whether the config sizes packs for a GPU: ``device: cuda`` (the machine is not asked, so
    that every machine plans the same packs)."""
    return config["device"] == "cuda"


def _conv_length(size: int, kernel: int) -> int:
    """Output size of a stride-2 convolution with padding kernel // 2 (deepstudy.models.conv_net)."""
    return (size + 2 * (kernel // 2) - kernel) // 2 + 1


def network_size(spec: dict, input_shape: tuple[int, ...], num_classes: int) -> tuple[int, int]:
    """Parameters of a packable network and its activations per example (what a pack stacks)."""
    if spec["architecture"] == "mlp":
        widths = [math.prod(input_shape), *[spec["width"]] * spec["depth"], num_classes]
        parameters = sum(a * b + b for a, b in zip(widths[:-1], widths[1:], strict=False))
        return parameters, sum(widths)
    channels, spatial = input_shape[0], list(input_shape[1:])
    parameters, activations = 0, math.prod(input_shape)
    for out in spec["channels"]:
        parameters += channels * out * spec["kernel_size"] ** len(spatial) + out
        spatial = [_conv_length(s, spec["kernel_size"]) for s in spatial]
        channels = out
        activations += out * math.prod(spatial)
    flat = channels * math.prod(spatial)
    parameters += flat * spec["hidden"] + spec["hidden"] + spec["hidden"] * num_classes + num_classes
    return parameters, activations + spec["hidden"] + num_classes


def pack_size(
    setting: int | str,
    spec: dict,
    input_shape: tuple[int, ...],
    num_classes: int,
    batch_size: int,
    on_gpu: bool,
) -> int:
    """Runs per job under a ``pack`` setting (a number, or ``auto``) for one model and batch size."""
    if spec["architecture"] not in PACKABLE or setting == 1:
        return 1
    if setting != "auto":
        return int(setting)
    if not on_gpu:
        return CPU_PACK
    parameters, activations = network_size(spec, input_shape, num_classes)
    fits = min(GPU_PARAMETERS // parameters, GPU_ACTIVATIONS // (activations * batch_size))
    return max(1, min(MAX_PACK, fits))
