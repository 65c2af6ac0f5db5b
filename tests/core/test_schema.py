"""The schema, the Snakefile and config/README.md agree with the package: each list and default is
written once, and every other place is checked against it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from deepstudy.config import STUDIES
from deepstudy.continual.catalogue import FISHERS, STRATEGIES
from deepstudy.continual.streams import BOUNDARIES, KINDS
from deepstudy.continual.workflow import SCENARIOS
from deepstudy.datasets import DATASETS
from deepstudy.models import ARCHITECTURES, INITS
from deepstudy.noise.workflow import NOISE_KINDS, RANDOM_SOURCE
from deepstudy.training import DEVICES, OPTIMIZERS

REPO = Path(__file__).resolve().parents[2]
#: Each enum of the schema, by the name of the key it constrains, and the constant it must equal.
ENUMS = {
    "architecture": ARCHITECTURES,
    "init": INITS,
    "noise": NOISE_KINDS,
    "studies": STUDIES,
    "device": DEVICES,
    "dataset": tuple(DATASETS),
    "images": (RANDOM_SOURCE, *DATASETS),
    "optimizer": OPTIMIZERS,
    "kind": KINDS,
    "scenarios": SCENARIOS,
    "boundary": BOUNDARIES,
    "strategies": STRATEGIES,
    "fisher": FISHERS,
}


def enums(node, key: str = "") -> list[tuple[str, list]]:
    """Every (constrained key, enum) of a schema, however deep."""
    found = []
    if isinstance(node, dict):
        if "enum" in node:
            found.append((key, node["enum"]))
        for name, child in node.items():
            found += enums(child, key if name in ("items", "properties", "additionalProperties") else name)
    elif isinstance(node, list):
        for child in node:
            found += enums(child, key)
    return found


def test_every_schema_enum_is_a_package_constant(schema):
    found = enums(schema)
    assert len(found) >= len(ENUMS)
    for key, values in found:
        assert key in ENUMS, f"schema enum of '{key}' has no package constant to check it against"
        assert tuple(values) == tuple(ENUMS[key]), key


def test_wildcard_constraints_come_from_the_package():
    """Snakefile wildcard constraints that list names derive them from the package's constants."""
    rules = "".join(p.read_text() for p in (REPO / "workflow" / "rules").glob("*.smk"))
    for name in ("noise", "strategy", "dataset"):
        constraint = re.search(rf"^\s+{name}=(.+),$", rules, flags=re.M).group(1)
        assert '"|".join(' in constraint, (name, constraint)


def schema_default(schema: dict, section: list[str], key: str):
    """The schema default of ``key`` (dotted, ``<name>`` for any name) under ``section``."""
    node = schema
    for part in [*section, *key.split(".")]:
        if part.startswith("$"):
            continue
        if "$ref" in node:
            node = schema["definitions"][node["$ref"].split("/")[-1]]
        properties = node.get("properties", {})
        node = properties[part] if part in properties else node["additionalProperties"]
    return node.get("default", "required")


SECTIONS = {"Top level": [], "`datasets`": ["datasets"], "`models`": ["$model"]}


def readme_rows() -> list[tuple[list[str], str, str]]:
    """(schema section, key cell, default cell) of every table row of config/README.md."""
    rows, section = [], None
    for line in (REPO / "config" / "README.md").read_text().splitlines():
        if line.startswith("## "):
            title = line[3:]
            study = re.match(r"`(\w+)`:", title)
            section = ["properties", study.group(1)] if study else SECTIONS.get(title)
            if title == "`models`":
                section = ["definitions", "model"]
            elif title in SECTIONS:
                section = ["properties", *SECTIONS[title]] if SECTIONS[title] else []
        elif line.startswith("| `") and section is not None:
            key, default = (cell.strip() for cell in line.split("|")[1:3])
            rows.append((section, key, default))
    return rows


def walk(schema: dict, section: list[str], key: str):
    node = schema
    for part in section:
        node = node[part]
    return schema_default({"definitions": schema["definitions"], **node}, [], key)


def test_config_readme_and_schema_agree_on_every_default(schema):
    checked = 0
    for section, key_cell, default_cell in readme_rows():
        keys = re.findall(r"`([^`]+)`", key_cell)
        defaults = re.findall(r"`([^`]+)`", default_cell)
        if not defaults or len(defaults) != len(keys) or re.sub(r"`[^`]*`|,|\s", "", default_cell):
            continue  # "required", "—", or a default said in words
        for key, default in zip(keys, defaults, strict=True):
            key = re.sub(r"<\w+>", "<name>", key)
            documented = yaml.safe_load(default)
            assert walk(schema, section, key) == documented, f"config/README.md {key}: {default}"
            checked += 1
    assert checked > 60


@pytest.mark.parametrize("key", ["batch_size", "lr", "n_clean"])
def test_the_plotted_values_are_documented_as_behaving(schema, key):
    """noise.plots.<key> null takes the value with the most runs (deepstudy.noise.plots.reference)."""
    description = schema["properties"]["noise"]["properties"]["plots"]["properties"][key]["description"]
    assert "most" in description and "first" not in description
