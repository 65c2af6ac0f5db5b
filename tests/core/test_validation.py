"""Jobs check their inputs before training: a damaged dataset or plan stops the job in one line."""

from __future__ import annotations

import runpy
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from deepstudy import data, plan_training, store
from deepstudy.continual.job import continual_job
from deepstudy.noise import plans as noise
from deepstudy.store import DamagedStoreError

REPO = Path(__file__).resolve().parents[2]
MLP = {"architecture": "mlp", "depth": 1, "width": 16, "init": "he"}
RUN = dict(name="run0", model=MLP, seed=0, lr=0.05, batch_size=32, epochs=1, checkpoint_epochs=[1])


def test_prepared_images_record_their_range(mnist1d_small):
    train = mnist1d_small["train_x"]
    assert train.attrs["valid_min"] == float(train.min()) and train.attrs["valid_max"] == float(train.max())


@pytest.mark.parametrize(
    ("array", "value", "reason"),
    [
        ("train_x", np.nan, "not finite"),
        ("test_x", 2.5e38, "outside the recorded range"),
        ("train_y", 10, "not a class"),
        ("test_y", -1, "not a class"),
    ],
)
def test_a_dataset_with_bad_values_is_refused(mnist1d_small, array, value, reason):
    bad = mnist1d_small.copy(deep=True)
    bad[array].values.flat[17] = value
    with pytest.raises(DamagedStoreError, match=f"array '{array}': 1 values .*{reason}"):
        data.Tensors(bad)


def test_a_plan_indexing_past_the_dataset_stops_the_job_before_training(mnist1d_small, tmp_path, monkeypatch):
    tensors = data.Tensors(mnist1d_small)
    plan = noise.dilute(mnist1d_small["train_y"].values, 10, 100, 1, "uniform", seed=0)
    plan["source_index"].values[5] = len(tensors.train_x)
    path = tmp_path / "plan.zarr"
    store.write_store(plan, path, {}, "dilute_labels")
    trained = []
    monkeypatch.setattr(plan_training, "train_run", lambda *args, **kwargs: trained.append(args))
    monkeypatch.setattr(plan_training, "train_packed", lambda *args, **kwargs: trained.append(args))
    with pytest.raises(DamagedStoreError) as caught:
        plan_training.train_job(
            [RUN], [store.open_store(path)], tensors, [str(tmp_path / "epoch1.pt")], tmp_path / "resume"
        )
    assert f"store '{path}'" in str(caught.value) and "array 'source_index'" in str(caught.value)
    assert "not a training image" in str(caught.value) and "rule dilute_labels" in str(caught.value)
    assert not trained


def test_a_stream_indexing_past_the_dataset_stops_the_job(mnist1d_small, tmp_path):
    from deepstudy.continual.streams import make_stream

    tensors = data.Tensors(mnist1d_small)
    options = {"kind": "split", "tasks": 2, "passes": 1}
    plan = make_stream(
        mnist1d_small["train_y"].values, mnist1d_small["test_y"].values, (1, 40), 10, options, 0
    )
    plan["test_example"].values[0] = len(tensors.test_x) + 3
    run = dict(name="er", model=MLP, strategy="finetune", seed=0, lr=0.05, batch_size=32, eval_every=20)
    with pytest.raises(DamagedStoreError, match="array 'test_example': 1 values are not a test example"):
        continual_job([run], plan, tensors, tmp_path / "resume")


def truncate(chunk: Path) -> None:
    chunk.write_bytes(chunk.read_bytes()[: chunk.stat().st_size // 2])


def overwrite(chunk: Path) -> None:
    chunk.write_bytes(np.random.default_rng(1).bytes(chunk.stat().st_size))


@pytest.mark.parametrize("damage", [truncate, overwrite])
def test_the_train_rule_on_a_damaged_dataset_fails_in_one_line_and_trains_nothing(
    mnist1d_small, tmp_path, monkeypatch, capsys, damage
):
    """The rule script ``train``, run as Snakemake runs it, on a dataset store with one bad chunk."""
    monkeypatch.chdir(tmp_path)
    dataset = Path("results/datasets/mnist1d.zarr/zarr.json")
    store.write_store(mnist1d_small, dataset, {}, "prepare_dataset")
    plan = noise.dilute(mnist1d_small["train_y"].values, 10, 100, 1, "uniform", seed=0)
    store.write_store(plan, "plan.zarr", {}, "dilute_labels")
    damage(sorted((dataset.parent / "train_x" / "c").rglob("*/*/*"))[-1])
    log = tmp_path / "train.log"
    log.write_text("an earlier run's log\n")
    metrics = tmp_path / "run" / "metrics.zarr" / "zarr.json"
    snakemake = SimpleNamespace(
        input=SimpleNamespace(dataset=str(dataset), source=[], plans=["plan.zarr"]),
        output=SimpleNamespace(metrics=str(metrics), checkpoints=[str(tmp_path / "run" / "epoch1.pt")]),
        params=SimpleNamespace(runs=[RUN], device="cpu"),
        resources={},
        config={},
        threads=1,
        log=[str(log)],
        rule="train",
    )
    with pytest.raises(SystemExit):
        runpy.run_path(str(REPO / "scripts" / "train.py"), init_globals={"snakemake": snakemake})
    terminal = capsys.readouterr().err.strip().splitlines()
    assert len(terminal) == 1 and "store 'results/datasets/mnist1d.zarr'" in terminal[0]
    assert "array 'train_x'" in terminal[0] and "rule prepare_dataset" in terminal[0]
    assert log.read_text().startswith("an earlier run's log\n")  # appended to, not overwritten
    assert log.read_text().splitlines()[-1] == terminal[0]
    assert not (tmp_path / "run").exists()  # no resume file, no checkpoint: nothing trained
