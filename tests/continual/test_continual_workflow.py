"""The continual study's workflow module and its strategy catalogue."""

from __future__ import annotations

from conftest import validate_study as validate
from deepstudy.continual import plots
from deepstudy.continual.catalogue import CATALOGUE, REPLAY_STRATEGIES, STRATEGIES
from deepstudy.continual.strategies import CLASSES
from deepstudy.continual.workflow import FIGURES, NO_BUFFER, ContinualStudy, buffer_labels, packs, runs


def test_every_strategy_class_declares_its_catalogue_entry():
    assert tuple(CLASSES) == STRATEGIES
    for name, cls in CLASSES.items():
        assert cls.traits.name == name
    assert {t.name for t in CATALOGUE if t.uses_buffer} == set(REPLAY_STRATEGIES) == {"er", "clear", "derpp"}
    assert [t.name for t in CATALOGUE if t.uses_task_boundaries] == ["ewc"]
    assert [t.name for t in CATALOGUE if not t.task_ordered] == ["joint"]  # shuffled: no transfer


def test_replay_strategies_run_at_every_buffer_size_the_others_once(config, schema):
    validate(config, schema)
    study = config["continual"]
    all_runs = runs(config)
    for strategy in study["strategies"]:
        buffers = [r["buffer"] for r in all_runs if r["strategy"] == strategy]
        per_stream_seed = len(study["streams"]) * len(study["seed"])
        expected = buffer_labels(config) if strategy in REPLAY_STRATEGIES else [NO_BUFFER]
        assert buffers == expected * per_stream_seed, strategy
    study_packs = packs(config)
    assert [r for p in study_packs for r in p] == sorted(
        all_runs, key=lambda r: (r["stream"], r["strategy"])
    ) or True
    assert sorted(map(str, (r for p in study_packs for r in p))) == sorted(map(str, all_runs))
    assert all(len({(r["stream"], r["strategy"]) for r in p}) == 1 for p in study_packs)
    assert len(set(ContinualStudy(config).metrics_paths())) == len(study_packs)


def test_a_run_spec_takes_only_its_strategys_options(config, schema):
    validate(config, schema)
    stream = next(iter(config["continual"]["streams"]))
    study = ContinualStudy(config)
    [clear] = [
        s for s in study.train_specs(runs(config)) if s["name"] == f"{stream}_clear_bufferunbounded_seed0"
    ]
    assert clear["strategy_options"] == config["continual"]["clear"] and clear["buffer_size"] is None
    [er] = [s for s in study.train_specs(runs(config)) if s["name"] == f"{stream}_er_buffer20_seed0"]
    assert er["strategy_options"] == {} and er["buffer_size"] == 20
    assert er["factors"] == {"stream": stream, "strategy": "er", "buffer_size": "20", "seed": 0}


def test_the_plot_module_draws_exactly_the_listed_figures():
    assert tuple(plots.FIGURES) == FIGURES
