"""The continual study's workflow module and its strategy catalogue."""

from __future__ import annotations

from conftest import validate_study as validate
from deepstudy.continual import plots
from deepstudy.continual.catalogue import CATALOGUE, REPLAY_STRATEGIES, STRATEGIES
from deepstudy.continual.strategies import CLASSES
from deepstudy.continual.workflow import FIGURES, NO_BUFFER, buffer_labels, metrics_paths, runs, train_specs


class Wildcards(dict):
    __getattr__ = dict.__getitem__


def test_every_strategy_class_declares_its_catalogue_entry():
    assert tuple(CLASSES) == STRATEGIES
    for name, cls in CLASSES.items():
        assert cls.traits.name == name
    assert {t.name for t in CATALOGUE if t.uses_buffer} == set(REPLAY_STRATEGIES) == {"er", "clear", "derpp"}
    assert [t.name for t in CATALOGUE if t.uses_task_boundaries] == ["ewc"]


def test_replay_strategies_run_at_every_buffer_size_the_others_once(config, schema):
    validate(config, schema)
    study = config["continual"]
    all_runs = runs(config)
    for strategy in study["strategies"]:
        buffers = [r["buffer"] for r in all_runs if r["strategy"] == strategy]
        per_stream_seed = len(study["streams"]) * len(study["seed"])
        expected = buffer_labels(config) if strategy in REPLAY_STRATEGIES else [NO_BUFFER]
        assert buffers == expected * per_stream_seed, strategy
    assert len(set(metrics_paths(config))) == len(all_runs)


def test_a_run_spec_takes_only_its_strategys_options(config, schema):
    validate(config, schema)
    stream = next(iter(config["continual"]["streams"]))
    [clear] = train_specs(config, Wildcards(stream=stream, strategy="clear", buffer="unbounded", seed="0"))
    assert clear["strategy_options"] == config["continual"]["clear"] and clear["buffer_size"] is None
    [er] = train_specs(config, Wildcards(stream=stream, strategy="er", buffer="500", seed="0"))
    assert er["strategy_options"] == {} and er["buffer_size"] == 500
    assert er["factors"] == {"stream": stream, "strategy": "er", "buffer_size": "500", "seed": 0}


def test_the_plot_module_draws_exactly_the_listed_figures():
    assert tuple(plots.FIGURES) == FIGURES
