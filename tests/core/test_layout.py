"""The package's layout: a shared core, one subpackage per study, torch-free workflow modules, and
each path and list written once."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "scripts" / "deepstudy"
STUDIES = ("noise", "regions", "activation", "continual")


def package_modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def imported_modules(path: Path) -> set[str]:
    """Every deepstudy module ``path`` imports, at any depth of the file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name.startswith("deepstudy")}


def study_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in STUDIES else None


def test_every_study_has_its_subpackage_and_workflow_module():
    for study in STUDIES:
        assert (PACKAGE / study / "__init__.py").is_file(), study
        assert (PACKAGE / study / "workflow.py").is_file(), study


def test_no_module_outside_a_study_imports_from_it():
    """The core imports no study, and no study imports another (the rule scripts may import any)."""
    offenders = []
    for path in package_modules():
        own = path.relative_to(PACKAGE).parts[0] if path.parent != PACKAGE else None
        for module in imported_modules(path):
            study = study_of(module)
            if study is not None and study != own:
                offenders.append(f"{path.relative_to(PACKAGE)} imports {module}")
    assert not offenders, offenders


def test_the_boundary_check_sees_an_offending_import(tmp_path):
    """The check above reads nested and aliased imports, so it cannot pass by missing them."""
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from deepstudy.noise import plans as p\n    return p\n")
    assert study_of(next(iter(imported_modules(module) - {"deepstudy.noise"}))) == "noise"


@pytest.mark.parametrize("study", STUDIES)
def test_workflow_modules_import_no_torch(study):
    """The Snakefile imports them to plan jobs: they must not pull in torch (or numpy's heavy users)."""
    code = (
        f"import sys; sys.path.insert(0, {str(PACKAGE.parent)!r}); "
        f"import deepstudy.{study}.workflow; "
        "heavy = sorted(m for m in ('torch', 'xarray', 'numba', 'matplotlib') if m in sys.modules); "
        "print(','.join(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "", f"deepstudy.{study}.workflow imports {result.stdout.strip()}"


def test_modules_stay_small():
    sizes = {path.relative_to(PACKAGE): len(path.read_text().splitlines()) for path in package_modules()}
    assert max(sizes.values()) <= 400, {p: n for p, n in sizes.items() if n > 400}


def code_files() -> list[Path]:
    repo = PACKAGE.parents[1]
    return [
        *package_modules(),
        *(repo / "scripts").glob("*.py"),
        *(repo / "workflow").rglob("*.smk"),
        repo / "workflow" / "Snakefile",
    ]


def test_every_output_path_is_written_once():
    """Paths under results/ come from one registry per study (and the shared paths module)."""
    seen: dict[str, list[str]] = {}
    for path in code_files():
        for literal in re.findall(r"""["'](results/[^"']*)["']""", path.read_text()):
            seen.setdefault(literal, []).append(path.name)
    repeated = {literal: where for literal, where in seen.items() if len(where) > 1}
    assert not repeated, repeated
    assert len(seen) > 10


def test_no_factor_tuple_is_written_twice():
    """A tuple of two or more names (factors, kinds, figures) is defined in one place only."""
    seen: dict[tuple, list[str]] = {}
    for path in package_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Tuple) and len(node.elts) > 2:
                if all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts):
                    key = tuple(sorted(e.value for e in node.elts))
                    seen.setdefault(key, []).append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    repeated = {key: where for key, where in seen.items() if len(where) > 1}
    assert not repeated, repeated
