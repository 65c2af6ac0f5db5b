"""A job's log: a rerun appends to it, and a resumed run says where it resumed from."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from deepstudy import data, runner
from deepstudy.continual.learner import ContinualSpec, train_stream
from deepstudy.continual.streams import make_stream
from deepstudy.errors import StudyInputError
from deepstudy.packing import train_packed
from deepstudy.runner import rule_log
from deepstudy.training import RunSpec, train_run

MLP = {"architecture": "mlp", "depth": 1, "width": 16, "init": "he"}


def test_a_rerun_appends_to_the_log_below_a_dated_line(tmp_path, capsys):
    log = tmp_path / "logs" / "job.log"
    with rule_log(str(log)):
        print("first run")
    log.unlink()  # as Snakemake does before it runs a job
    with pytest.raises(SystemExit), rule_log(str(log)):
        print("second run")
        raise StudyInputError("the input is bad")
    lines = log.read_text().splitlines()
    assert lines[0] == "first run" and lines[1].startswith("--- rerun at ")
    assert lines[2:] == ["second run", "error: the input is bad"]
    assert capsys.readouterr().err == "error: the input is bad\n"


def test_a_killed_run_stays_in_the_log_of_the_next(tmp_path):
    log = tmp_path / "job.log"
    killed = "\n".join(
        [
            "import os",
            "from deepstudy.runner import rule_log",
            f"with rule_log({str(log)!r}):",
            "    print('epoch 1 done', flush=True)",
            "    os._exit(9)",
        ]
    )
    env = {**os.environ, "PYTHONPATH": str(Path(runner.__file__).parents[1])}
    assert subprocess.run([sys.executable, "-c", killed], env=env).returncode == 9
    log.unlink()
    with rule_log(str(log)):
        print("resumed")
    lines = log.read_text().splitlines()
    assert lines[0] == "epoch 1 done" and lines[1].startswith("--- rerun at ") and lines[2] == "resumed"


def test_a_first_run_logs_no_rerun_line(tmp_path):
    log = tmp_path / "job.log"
    with rule_log(str(log)):
        print("only run")
    assert log.read_text() == "only run\n"


def test_a_log_of_an_earlier_version_is_kept(tmp_path):
    log = tmp_path / "job.log"
    log.write_text("a log from before logs kept a history\n")
    with rule_log(str(log)):
        print("next run")
    lines = log.read_text().splitlines()
    assert lines[0] == "a log from before logs kept a history" and lines[1].startswith("--- rerun at ")
    assert lines[2] == "next run"


@pytest.fixture(scope="module")
def tensors(mnist1d_small):
    return data.Tensors(mnist1d_small)


def test_a_resumed_run_says_from_which_epoch(tensors, tmp_path, capsys):
    spec = RunSpec("run0", MLP, seed=0, lr=0.05, batch_size=64, epochs=2, epoch_examples=128)
    index = torch.arange(len(tensors.train_x))
    args = (spec, tensors.train_x, index, tensors.train_y, tensors.test_x, tensors.test_y, 10)
    train_run(*args, resume_path=tmp_path / "run.pt", progress=False)
    assert "resumed" not in capsys.readouterr().out
    train_run(*args, resume_path=tmp_path / "run.pt", progress=False)
    assert "run0 resumed from epoch 2 of 2" in capsys.readouterr().out


def test_a_resumed_pack_says_from_which_epoch(tensors, tmp_path, capsys):
    specs = [
        RunSpec(f"run{k}", MLP, seed=k, lr=0.05, batch_size=64, epochs=1, epoch_examples=128) for k in (0, 1)
    ]
    index = torch.arange(len(tensors.train_x))
    args = (specs, tensors.train_x, [index] * 2, [tensors.train_y] * 2, tensors.test_x, tensors.test_y, 10)
    train_packed(*args, resume_path=tmp_path / "pack.pt")
    train_packed(*args, resume_path=tmp_path / "pack.pt")
    assert "the pack of 2 runs resumed from epoch 1 of 1" in capsys.readouterr().out


def test_a_resumed_stream_says_from_which_task(mnist1d_small, tensors, tmp_path, capsys):
    options = {"kind": "split", "tasks": 2, "passes": 1, "examples_per_task": 64}
    plan = make_stream(
        mnist1d_small["train_y"].values, mnist1d_small["test_y"].values, (1, 40), 10, options, 0
    )
    spec = ContinualSpec("ft", MLP, "finetune", seed=0, lr=0.05, batch_size=32, eval_every=2)
    train_stream(spec, plan, tensors, resume_path=tmp_path / "ft.pt", progress=False)
    assert "resumed" not in capsys.readouterr().out
    train_stream(spec, plan, tensors, resume_path=tmp_path / "ft.pt", progress=False)
    assert "ft resumed from task 2 of 2" in capsys.readouterr().out
