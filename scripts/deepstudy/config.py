"""Config validation: the JSON Schema with defaults, then the checks a schema cannot express.

Every error is a :class:`~deepstudy.checks.ConfigError` whose one-line message starts with the
offending key, such as ``config key noise.grid[0].alpha[1]: -1 is less than the minimum of 0``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator
from pathlib import Path

import jsonschema
import yaml

from deepstudy.checks import ConfigError

STUDIES = ("noise", "regions", "continual")


def _key(path: Iterator) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _with_defaults(validator_class: type) -> type:
    """A validator class that also fills in the schema's ``default`` of missing properties."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema and name not in instance:
                    instance[name] = copy.deepcopy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def _message(error: jsonschema.ValidationError) -> str:
    key = _key(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        if allowed:
            return f"config key {key}: unknown key '{unknown[0]}' (allowed: {', '.join(allowed)})"
        return f"config key {key}.{unknown[0]}: {error.message}"
    if error.validator == "required":
        return f"config key {key}: {error.message}"
    return f"config key {key}: {error.message}"


def _non_finite(value, path: tuple = ()) -> Iterator[tuple[tuple, float]]:
    """Every NaN or infinite number in ``value`` (YAML ``.nan``, ``.inf``), with its path."""
    if isinstance(value, float) and not math.isfinite(value):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _non_finite(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _non_finite(item, (*path, i))


def drop_unlisted_studies(config: dict) -> None:
    """Remove the section of every study that ``studies`` does not list, so that it is neither
    validated nor read (nor stored with results): a config need not hold a study it does not run."""
    studies = config.get("studies")
    if isinstance(studies, list):
        for study in STUDIES:
            if study not in studies:
                config.pop(study, None)


def load_schema(path: str | Path) -> dict:
    with open(path) as handle:
        return yaml.safe_load(handle)


def validate(config: dict, schema: dict, checks: dict[str, Callable[[dict], None]] | None = None) -> dict:
    """Validate ``config`` in place against ``schema``, fill in defaults, then run each listed
    study's cross-checks (``checks``: study name -> its workflow module's ``check``).

    Studies that ``studies`` does not list are dropped unread (:func:`drop_unlisted_studies`); a
    number anywhere must be finite. Returns the config; raises :class:`ConfigError` naming the first
    offending key.
    """
    drop_unlisted_studies(config)
    bad = next(_non_finite(config), None)
    if bad is not None:
        raise ConfigError(f"config key {_key(iter(bad[0]))}: {bad[1]} is not a finite number")
    validator_class = _with_defaults(jsonschema.validators.validator_for(schema))
    errors = list(validator_class(schema).iter_errors(config))
    if errors:
        error = min(errors, key=lambda e: (len(e.absolute_path), str(e.absolute_path)))
        raise ConfigError(_message(error))
    if "studies" not in config:
        config["studies"] = [study for study in STUDIES if study in config]
    for i, study in enumerate(config["studies"]):
        if study not in config:
            raise ConfigError(f"config key studies[{i}]: study '{study}' has no '{study}' section")
    for study in STUDIES:  # in a fixed order, so that one config always gives the same first error
        if study in config["studies"] and checks and study in checks:
            checks[study](config)
    return config
