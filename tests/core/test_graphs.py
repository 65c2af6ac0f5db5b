"""CUDA graphs of the training step: warm-up, one capture, replays, and a recorded fallback.

No GPU here: torch.cuda's graph and stream calls are replaced by stand-ins that record what the
step asked of them, as a CUDA graph would (a capture records and runs nothing; a replay runs what
was recorded).
"""

from __future__ import annotations

from contextlib import contextmanager

import pytest
import torch
from deepstudy import graphs
from deepstudy.graphs import GraphedStep

from tests.core.test_packing import specs


class FakeCuda:
    """torch.cuda's graph API, recording: ``log`` lists what ran where."""

    def __init__(self, fail_capture: bool = False) -> None:
        self.log: list[str] = []
        self.fail_capture = fail_capture
        self.where = "current stream"
        self.step = None  # what a capture records

    def install(self, monkeypatch, step) -> None:
        self.step = step
        fake = self

        class Stream:
            def __init__(self, device=None) -> None:
                self.device = device

            def wait_stream(self, other) -> None:
                fake.log.append("wait")

        class CUDAGraph:
            def replay(self) -> None:
                fake.log.append("replay")
                fake.where = "graph"
                fake.step()
                fake.where = "current stream"

        @contextmanager
        def stream(side):
            fake.where = "side stream"
            yield
            fake.where = "current stream"

        @contextmanager
        def graph(g, stream=None):
            fake.where = "capture"
            try:
                if fake.fail_capture:
                    raise RuntimeError("operation not permitted when stream is capturing")
                yield
            finally:
                fake.where = "current stream"

        monkeypatch.setattr(torch.cuda, "Stream", Stream)
        monkeypatch.setattr(torch.cuda, "CUDAGraph", CUDAGraph)
        monkeypatch.setattr(torch.cuda, "current_stream", lambda device=None: Stream(device))
        monkeypatch.setattr(torch.cuda, "stream", stream)
        monkeypatch.setattr(torch.cuda, "graph", graph)
        monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: None)


def counting_step(fake: FakeCuda, runs: list[str]):
    def step() -> None:
        if fake.where != "capture":  # a capture records the step's kernels, it runs none of them
            runs.append(fake.where)

    return step


def test_the_step_warms_up_eagerly_then_is_captured_once_and_replayed(monkeypatch):
    fake, runs = FakeCuda(), []
    step = counting_step(fake, runs)
    fake.install(monkeypatch, step)
    graphed = GraphedStep(step, torch.device("cuda"), [])
    assert graphed.mode == "graph (warming up)"
    for _ in range(graphs.WARMUP_CALLS + 4):
        graphed()
    # every call ran the step once: the warm-up eagerly on the side stream, then from the graph
    assert runs == ["side stream"] * graphs.WARMUP_CALLS + ["graph"] * 4
    assert fake.log.count("replay") == 4
    assert graphed.mode == "graph"


def test_a_failed_capture_falls_back_to_eager_steps_and_says_why(monkeypatch, capsys):
    fake, runs = FakeCuda(fail_capture=True), []
    step = counting_step(fake, runs)
    fake.install(monkeypatch, step)
    parameter = torch.zeros(3, requires_grad=True)
    parameter.grad = torch.ones(3)  # as a capture that failed half-way may leave it
    graphed = GraphedStep(step, torch.device("cuda"), [parameter])
    for _ in range(graphs.WARMUP_CALLS + 3):
        graphed()
    assert len(runs) == graphs.WARMUP_CALLS + 3  # no step lost, none run twice
    assert runs[graphs.WARMUP_CALLS :] == ["current stream"] * 3
    assert parameter.grad is None
    assert graphed.mode.startswith("eager (CUDA graph capture failed: RuntimeError: operation not")
    assert "capture failed" in capsys.readouterr().out
    assert "replay" not in fake.log


def test_graphs_can_be_turned_off_and_the_cpu_runs_eagerly(monkeypatch):
    fake, runs = FakeCuda(), []
    step = counting_step(fake, runs)
    fake.install(monkeypatch, step)
    off = GraphedStep(step, torch.device("cuda"), [], capture=False)
    cpu = GraphedStep(step, torch.device("cpu"), [])
    for _ in range(graphs.WARMUP_CALLS + 2):
        off()
        cpu()
    assert runs == ["current stream"] * 2 * (graphs.WARMUP_CALLS + 2)
    assert off.mode == "eager (CUDA graphs off in the config)"
    assert cpu.mode == "eager (cpu)"


def test_a_packs_graphed_steps_train_as_its_eager_ones(mnist1d_small, monkeypatch):
    """A pack whose full-batch steps go through GraphedStep's graph path (replays re-running the
    recorded step on the static batch) ends bitwise where the eager pack ends, short batches at
    the end of a pass included."""
    from deepstudy import data, packing

    tensors = data.Tensors(mnist1d_small)
    runs = specs(3, epochs=2, epoch_examples=None, batch_size=96)  # passes end with short batches
    index = torch.arange(len(tensors.train_x))
    sizes = [len(index), len(index) - 40, len(index) - 40]
    args = (tensors.train_x, [index[:n] for n in sizes], [tensors.train_y[:n] for n in sizes])
    rest = (tensors.test_x, tensors.test_y, 10)
    eager = packing.train_packed(runs, *args, *rest)

    class Recorded(GraphedStep):
        """The graph path on the CPU: a capture records the step (runs nothing), a replay runs it."""

        def __init__(self, step, device, parameters, capture=True) -> None:
            super().__init__(step, device, parameters, capture)
            fake = FakeCuda()
            self.fake = fake
            fake.install(monkeypatch, lambda: fake.recorded())
            self.capturing, self.stream = capture, torch.cuda.Stream()

            def recorded() -> None:
                if fake.where != "capture":
                    step()

            fake.recorded = recorded
            self.step = recorded

    monkeypatch.setattr(packing, "GraphedStep", Recorded)
    graphed = packing.train_packed(runs, *args, *rest)
    for g, e in zip(graphed, eager, strict=True):
        assert g.training_step == "graph" and e.training_step == "eager (cpu)"
        assert g.train_loss == e.train_loss
        for key in e.final_state:
            assert torch.equal(g.final_state[key], e.final_state[key]), key


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_a_gpu_a_graphed_pack_trains_as_an_eager_one(mnist1d_small):
    from deepstudy import data, packing

    tensors = data.Tensors(mnist1d_small, torch.device("cuda"))
    runs = specs(3, epochs=1)
    index = torch.arange(len(tensors.train_x), device="cuda")
    args = (tensors.train_x, [index] * 3, [tensors.train_y] * 3, tensors.test_x, tensors.test_y, 10)
    graphed = packing.train_packed(runs, *args)
    eager = packing.train_packed(runs, *args, cuda_graphs=False)
    for g, e in zip(graphed, eager, strict=True):
        assert g.training_step == "graph"
        assert g.train_loss == pytest.approx(e.train_loss, rel=1e-5)
