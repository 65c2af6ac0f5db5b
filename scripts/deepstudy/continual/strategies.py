"""Continual-learning strategies, all with one interface.

A strategy sees the stream one batch at a time through :meth:`Strategy.observe` (inputs and labels,
nothing else). Only a strategy marked ``uses_task_boundaries`` is also told when a task ends, with
that task's examples (:meth:`Strategy.end_task`); the task-free ones never learn where tasks begin
or end, nor which task an example belongs to.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn
from torch.func import functional_call, grad, jacrev, vmap

from deepstudy.continual.buffer import ReservoirBuffer
from deepstudy.continual.catalogue import REPLAY_STRATEGIES, STRATEGIES, TRAITS  # noqa: F401 - re-exported


class Strategy:
    """Plain SGD on the stream (``finetune``): the lower bound."""

    traits = TRAITS["finetune"]
    task_end_examples: int | None = None  # how many of an ending task's examples end_task uses

    def __init__(
        self, net: nn.Module, optimizer: torch.optim.Optimizer, options: dict, buffer: ReservoirBuffer | None
    ) -> None:
        self.net = net
        self.optimizer = optimizer
        self.options = options
        self.buffer = buffer

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The training loss on a batch, and the network's logits on the batch's own examples."""
        logits = self.net(x)
        return F.cross_entropy(logits, y), logits

    def observe(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """One optimisation step on a batch of the stream; returns the (detached) loss."""
        loss, logits = self.loss(x, y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if self.buffer is not None:  # stored with the outputs the network gave before this step
            self.buffer.add(x, y, logits.detach())
        return loss.detach()

    def end_task(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """Called at a task's end with its examples, only when ``uses_task_boundaries``."""
        raise RuntimeError(f"{type(self).__name__} is task-free and must not be told about tasks")

    def state_dict(self) -> dict:
        return {"buffer": self.buffer.state_dict() if self.buffer is not None else None}

    def load_state_dict(self, state: dict) -> None:
        if self.buffer is not None:
            self.buffer.load_state_dict(state["buffer"])


class Joint(Strategy):
    """The whole stream shuffled i.i.d. (``joint``): the upper bound."""

    traits = TRAITS["joint"]


class ExperienceReplay(Strategy):
    """``er``: each batch is joined by an equal-size batch drawn from a reservoir buffer."""

    traits = TRAITS["er"]

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if len(self.buffer) == 0:
            return super().loss(x, y)
        replay_x, replay_y, replay_logits = self.buffer.sample(len(x))
        logits = self.net(torch.cat([x, replay_x]))
        new, replayed = logits[: len(x)], logits[len(x) :]
        loss = F.cross_entropy(new, y) + self.replay_loss(replayed, replay_y, replay_logits)
        return loss, new

    def replay_loss(self, logits: torch.Tensor, y: torch.Tensor, stored: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, y)


class Clear(ExperienceReplay):
    """``clear`` (Rolnick et al. 2019): replay plus behavioural cloning, a KL term pulling today's
    outputs on replayed examples towards those stored with them."""

    traits = TRAITS["clear"]

    def replay_loss(self, logits: torch.Tensor, y: torch.Tensor, stored: torch.Tensor) -> torch.Tensor:
        cloning = F.kl_div(
            F.log_softmax(logits, dim=1), F.log_softmax(stored, dim=1), log_target=True, reduction="batchmean"
        )
        return (
            self.options["replay_weight"] * F.cross_entropy(logits, y)
            + self.options["cloning_weight"] * cloning
        )


class DerPlusPlus(ExperienceReplay):
    """``derpp`` (Buzzega et al. 2020): MSE to stored logits on one replayed batch plus the labels of
    another."""

    traits = TRAITS["derpp"]

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if len(self.buffer) == 0:
            return Strategy.loss(self, x, y)
        logit_x, _, stored = self.buffer.sample(len(x))
        label_x, label_y, _ = self.buffer.sample(len(x))
        logits = self.net(torch.cat([x, logit_x, label_x]))
        new, on_logits, on_labels = logits.split(len(x))
        loss = (
            F.cross_entropy(new, y)
            + self.options["alpha"] * F.mse_loss(on_logits, stored)
            + self.options["beta"] * F.cross_entropy(on_labels, label_y)
        )
        return loss, new


class OnlineEwc(Strategy):
    """``ewc``, online (Schwarz et al. 2018): a quadratic pull towards the weights at the last task
    end, weighted by a running diagonal Fisher, expected or empirical (``options["fisher"]``). It
    needs task boundaries: the contrast to CLEAR."""

    traits = TRAITS["ewc"]

    def __init__(self, net, optimizer, options, buffer) -> None:
        super().__init__(net, optimizer, options, buffer)
        self.fisher: dict[str, torch.Tensor] | None = None
        self.task_end_examples = options["fisher_examples"]  # the learner prepares no more
        self.anchor: dict[str, torch.Tensor] | None = None

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        loss, logits = super().loss(x, y)
        if self.fisher is not None:
            penalty = sum(
                (self.fisher[name] * (param - self.anchor[name]) ** 2).sum()
                for name, param in self.net.named_parameters()
            )
            loss = loss + self.options["lambda"] / 2 * penalty
        return loss, logits

    def end_task(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """Add the ending task's diagonal Fisher (``options["fisher"]``, see :meth:`task_fisher`) to
        the decayed running one; anchor at today's weights."""
        params = {name: p.detach() for name, p in self.net.named_parameters()}
        limit = self.options["fisher_examples"]
        fisher = self.task_fisher(params, x[:limit], y[:limit])
        if self.fisher is not None:
            fisher = {name: self.options["gamma"] * self.fisher[name] + fisher[name] for name in fisher}
        self.fisher, self.anchor = fisher, {name: p.clone() for name, p in params.items()}

    def task_fisher(self, params: dict, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        """The diagonal Fisher of the examples ``x``, mean over examples of

        - ``expected`` (the true Fisher of Kirkpatrick et al. 2017 and Schwarz et al. 2018): the
          expectation over the model's own prediction, sum_c p_c(x) (d log p_c(x) / d theta)^2,
          exact (every class's gradient, weighted by its probability, none sampled);
        - ``empirical``: (d log p_y(x) / d theta)^2 at the true label y, which approximates it
          only where the model fits its data (Kunstner et al. 2019).
        """
        buffers = {name: b.detach() for name, b in self.net.named_buffers()}

        def log_probs(p: dict, example: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            out = F.log_softmax(functional_call(self.net, (p, buffers), (example[None],)), dim=1)[0]
            return out, out

        def log_likelihood(p: dict, example: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
            return log_probs(p, example)[0].gather(0, label[None])[0]

        def squared(xs: torch.Tensor, ys: torch.Tensor) -> dict[str, torch.Tensor]:
            """The chunk's squared gradients, summed over its examples (and weighted classes)."""
            if self.options["fisher"] == "empirical":
                grads = vmap(grad(log_likelihood), in_dims=(None, 0, 0))(params, xs, ys)
                return {name: (g**2).sum(0) for name, g in grads.items()}
            grads, log_p = vmap(jacrev(log_probs, has_aux=True), in_dims=(None, 0))(params, xs)
            return {name: torch.einsum("nc,nc...->...", log_p.exp(), g**2) for name, g in grads.items()}

        with torch.no_grad():  # 256 gradients at a time: the expected Fisher takes one per class
            classes = self.net(x[:1]).shape[1] if self.options["fisher"] == "expected" else 1
        chunk = max(1, 256 // classes)
        fisher = {name: torch.zeros_like(p) for name, p in params.items()}
        for start in range(0, len(x), chunk):
            for name, value in squared(x[start : start + chunk], y[start : start + chunk]).items():
                fisher[name] += value
        return {name: value / max(len(x), 1) for name, value in fisher.items()}

    def state_dict(self) -> dict:
        return {**super().state_dict(), "fisher": self.fisher, "anchor": self.anchor}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.fisher, self.anchor = state["fisher"], state["anchor"]


#: Each strategy's class, by the name its traits declare.
CLASSES = {cls.traits.name: cls for cls in (Strategy, Joint, ExperienceReplay, Clear, DerPlusPlus, OnlineEwc)}
