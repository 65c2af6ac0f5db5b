"""Continual-learning strategies, all with one interface, each training a stack of K runs at once.

A strategy sees the stream one batch at a time through :meth:`Strategy.observe` (inputs and labels,
nothing else). Only a strategy marked ``uses_task_boundaries`` is also told when a task ends, with
that task's examples (:meth:`Strategy.end_task`); the task-free ones never learn where tasks begin
or end, nor which task an example belongs to.

The network is a stack (:mod:`deepstudy.stacks`): K runs in lockstep, inputs (K, B, ...) and logits
(K, B, classes), run k with its own weights and its own reservoir buffer. Every loss is computed
per run, shape (K,), and their sum is minimised: run k's gradient is its own loss's, so a stacked
run follows the run it would be alone, up to the rounding of batched products. A run alone is a
stack of one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812
from torch.func import grad, jacrev, vmap

from deepstudy.continual.buffer import ReservoirBuffers
from deepstudy.continual.catalogue import REPLAY_STRATEGIES, STRATEGIES, TRAITS  # noqa: F401 - re-exported


def cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Each run's mean cross-entropy (K,) of logits (K, B, classes) at labels (K, B)."""
    return F.cross_entropy(logits.transpose(1, 2), y, reduction="none").mean(dim=1)


class Strategy:
    """Plain SGD on the stream (``finetune``): the lower bound."""

    traits = TRAITS["finetune"]
    task_end_examples: int | None = None  # how many of an ending task's examples end_task uses

    def __init__(
        self, net, optimizer: torch.optim.Optimizer, options: dict, buffers: ReservoirBuffers | None
    ) -> None:
        self.net = net
        self.optimizer = optimizer
        self.options = options
        self.buffers = buffers

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each run's training loss (K,) on its batch, and the logits (K, B, classes) on the batch's
        own examples."""
        logits = self.net(x)
        return cross_entropy(logits, y), logits

    def observe(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """One optimisation step of every run on its batch (x: K, B, ...); their (detached) losses."""
        loss, logits = self.loss(x, y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.sum().backward()
        self.optimizer.step()
        if self.buffers is not None:  # stored with the outputs the network gave before this step
            self.buffers.add(x, y, logits.detach())
        return loss.detach()

    def replayable(self) -> bool:
        """Whether the buffers hold examples (the runs of a stack fill theirs in lockstep)."""
        return self.buffers.seen > 0

    def sample(self, size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``size`` examples drawn from each run's buffer: inputs, labels and stored logits (K, size, ...)."""
        return self.buffers.sample(size)

    def end_task(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """Called at a task's end with its examples (K, n, ...), only when ``uses_task_boundaries``."""
        raise RuntimeError(f"{type(self).__name__} is task-free and must not be told about tasks")

    def state_dict(self) -> dict:
        return {"buffers": self.buffers.state_dict() if self.buffers is not None else None}

    def load_state_dict(self, state: dict) -> None:
        if self.buffers is not None:
            self.buffers.load_state_dict(state["buffers"])


class Joint(Strategy):
    """The whole stream shuffled i.i.d. (``joint``): the upper bound."""

    traits = TRAITS["joint"]


class ExperienceReplay(Strategy):
    """``er``: each batch is joined by an equal-size batch drawn from a reservoir buffer."""

    traits = TRAITS["er"]

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.replayable():
            return super().loss(x, y)
        replay_x, replay_y, replay_logits = self.sample(x.shape[1])
        logits = self.net(torch.cat([x, replay_x], dim=1))
        new, replayed = logits.split(x.shape[1], dim=1)
        loss = cross_entropy(new, y) + self.replay_loss(replayed, replay_y, replay_logits)
        return loss, new

    def replay_loss(self, logits: torch.Tensor, y: torch.Tensor, stored: torch.Tensor) -> torch.Tensor:
        return cross_entropy(logits, y)


class Clear(ExperienceReplay):
    """``clear`` (Rolnick et al. 2019): replay plus behavioural cloning, a KL term pulling today's
    outputs on replayed examples towards those stored with them."""

    traits = TRAITS["clear"]

    def replay_loss(self, logits: torch.Tensor, y: torch.Tensor, stored: torch.Tensor) -> torch.Tensor:
        cloning = (
            F.kl_div(
                F.log_softmax(logits, dim=2), F.log_softmax(stored, dim=2), log_target=True, reduction="none"
            ).sum(dim=(1, 2))
            / logits.shape[1]
        )  # each run's batch mean
        return (
            self.options["replay_weight"] * cross_entropy(logits, y)
            + self.options["cloning_weight"] * cloning
        )


class DerPlusPlus(ExperienceReplay):
    """``derpp`` (Buzzega et al. 2020): MSE to stored logits on one replayed batch plus the labels of
    another."""

    traits = TRAITS["derpp"]

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.replayable():
            return Strategy.loss(self, x, y)
        size = x.shape[1]
        logit_x, _, stored = self.sample(size)
        label_x, label_y, _ = self.sample(size)
        logits = self.net(torch.cat([x, logit_x, label_x], dim=1))
        new, on_logits, on_labels = logits.split(size, dim=1)
        loss = (
            cross_entropy(new, y)
            + self.options["alpha"] * (on_logits - stored).square().mean(dim=(1, 2))
            + self.options["beta"] * cross_entropy(on_labels, label_y)
        )
        return loss, new


class OnlineEwc(Strategy):
    """``ewc``, online (Schwarz et al. 2018): a quadratic pull towards the weights at the last task
    end, weighted by a running diagonal Fisher, expected or empirical (``options["fisher"]``). It
    needs task boundaries: the contrast to CLEAR."""

    traits = TRAITS["ewc"]

    def __init__(self, net, optimizer, options, buffers) -> None:
        super().__init__(net, optimizer, options, buffers)
        self.fisher: dict[str, torch.Tensor] | None = None  # stacked (K, ...), as the parameters
        self.task_end_examples = options["fisher_examples"]  # the learner prepares no more
        self.anchor: dict[str, torch.Tensor] | None = None

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        loss, logits = super().loss(x, y)
        if self.fisher is not None:
            penalty = sum(
                (self.fisher[name] * (param - self.anchor[name]) ** 2).flatten(1).sum(dim=1)
                for name, param in self.net.named_parameters().items()
            )
            loss = loss + self.options["lambda"] / 2 * penalty
        return loss, logits

    def end_task(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """Add the ending task's diagonal Fisher of each run (``options["fisher"]``, see
        :meth:`task_fisher`) to its decayed running one; anchor at today's weights."""
        limit = self.options["fisher_examples"]
        fishers = [self.task_fisher(run, x[run, :limit], y[run, :limit]) for run in range(len(x))]
        fisher = {name: torch.stack([f[name] for f in fishers]) for name in fishers[0]}
        if self.fisher is not None:
            fisher = {name: self.options["gamma"] * self.fisher[name] + fisher[name] for name in fisher}
        anchor = {name: p.detach().clone() for name, p in self.net.named_parameters().items()}
        self.fisher, self.anchor = fisher, anchor

    def task_fisher(self, run: int, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        """The diagonal Fisher of run ``run`` on the examples ``x``, mean over examples of

        - ``expected`` (the true Fisher of Kirkpatrick et al. 2017 and Schwarz et al. 2018): the
          expectation over the model's own prediction, sum_c p_c(x) (d log p_c(x) / d theta)^2,
          exact (every class's gradient, weighted by its probability, none sampled);
        - ``empirical``: (d log p_y(x) / d theta)^2 at the true label y, which approximates it
          only where the model fits its data (Kunstner et al. 2019).
        """
        params, call = self.net.run_function(run)

        def log_probs(p: dict, example: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            out = F.log_softmax(call(p, example[None]), dim=1)[0]
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
            classes = call(params, x[:1]).shape[1] if self.options["fisher"] == "expected" else 1
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
