"""Online EWC's diagonal Fisher: the expected (true) one over the model's own predictions, or the
empirical one at the true labels, each checked against a brute-force computation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F  # noqa: N812
from deepstudy.continual.strategies import CLASSES
from deepstudy.stacks import Single


def tiny_problem() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 4))
    return net, torch.randn(7, 3), torch.randint(0, 4, (7,))


def brute_force(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, kind: str) -> dict:
    """The diagonal Fisher one example and one class at a time with autograd."""
    fisher = {name: torch.zeros_like(p) for name, p in net.named_parameters()}
    for example, label in zip(x, y, strict=True):
        log_p = F.log_softmax(net(example[None]), dim=1)[0]
        weights = {int(label): 1.0} if kind == "empirical" else dict(enumerate(log_p.exp().tolist()))
        for c, weight in weights.items():
            grads = torch.autograd.grad(log_p[c], list(net.parameters()), retain_graph=True)
            for name, g in zip(fisher, grads, strict=True):
                fisher[name] += weight * g**2 / len(x)
    return fisher


def ewc_fisher(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, kind: str) -> dict:
    options = {"lambda": 1.0, "gamma": 1.0, "fisher_examples": len(x), "fisher": kind}
    ewc = CLASSES["ewc"](Single(net), torch.optim.SGD(net.parameters(), lr=0.1), options, None)
    ewc.end_task(x[None], y[None])  # a stack of one run
    return {name: fisher[0] for name, fisher in ewc.fisher.items()}


@pytest.mark.parametrize("kind", ["expected", "empirical"])
def test_the_ewc_fisher_diagonal_equals_a_brute_force_one(kind):
    net, x, y = tiny_problem()
    expected, found = brute_force(net, x, y, kind), ewc_fisher(net, x, y, kind)
    assert set(found) == set(expected)
    for name in expected:
        torch.testing.assert_close(found[name], expected[name], rtol=1e-5, atol=1e-7)


def test_the_expected_fisher_differs_from_the_empirical_one():
    net, x, y = tiny_problem()
    expected, empirical = ewc_fisher(net, x, y, "expected"), ewc_fisher(net, x, y, "empirical")
    gap = max(float((expected[n] - empirical[n]).abs().max() / empirical[n].abs().max()) for n in expected)
    assert gap > 0.1
