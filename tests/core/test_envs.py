"""Conda environments: every rule has one, and their packages agree with pyproject.toml."""

from __future__ import annotations

import ast
import re
import sys
import tomllib

import yaml

CONDA_TO_PYPI = {"pytorch": "torch"}
NOT_PYTHON_PACKAGES = {"python", "pip"}


def requirement(text: str) -> tuple[str, str]:
    """(normalised name, version specifier) of a requirement such as ``zarr>=3,<4``."""
    match = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", text)
    name = match.group(1).lower().replace("_", "-")
    return CONDA_TO_PYPI.get(name, name), match.group(2).replace(" ", "")


def env_requirements(path) -> dict[str, str]:
    spec = yaml.safe_load(path.read_text())
    entries = []
    for dependency in spec["dependencies"]:
        if isinstance(dependency, dict):
            entries += dependency["pip"]
        else:
            entries.append(dependency)
    return dict(requirement(e) for e in entries if requirement(e)[0] not in NOT_PYTHON_PACKAGES)


def test_env_packages_match_pyproject(repo):
    project = tomllib.loads((repo / "pyproject.toml").read_text())["project"]
    pinned = dict(requirement(r) for r in project["dependencies"])
    envs = sorted((repo / "envs").glob("*.yaml"))
    assert envs
    for env in envs:
        for name, version in env_requirements(env).items():
            assert name in pinned, f"{env.name}: {name} is not a dependency in pyproject.toml"
            assert version == pinned[name], f"{env.name}: {name}{version} vs pyproject {pinned[name]}"


def test_every_rule_names_an_existing_env(repo):
    rules = "".join(p.read_text() for p in (repo / "workflow" / "rules").glob("*.smk"))
    blocks = re.split(r"^rule \w+:", rules, flags=re.M)[1:]
    jobs = [block for block in blocks if "script:" in block]  # not the study target rules
    assert all("output:" not in block for block in blocks if "script:" not in block)
    envs = re.findall(r'conda:\s*\n\s*"([^"]+)"', rules)
    assert len(jobs) > 10 and len(envs) == len(jobs)
    for env in envs:
        assert (repo / "workflow" / "rules" / env).resolve().is_file(), env


def third_party_imports(script, scripts_dir) -> set[str]:
    """Top-level third-party modules a rule script imports, following deepstudy's own modules."""
    found, seen, todo = set(), set(), [script]
    stdlib = sys.stdlib_module_names
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            for name in names:
                top = name.split(".")[0]
                if top == "deepstudy":
                    module = scripts_dir.joinpath(*name.split("."))
                    for candidate in (module.with_suffix(".py"), module / "__init__.py"):
                        if candidate.is_file():
                            todo.append(candidate)
                elif top not in stdlib and top != "snakemake":
                    found.add(top)
    return found


IMPORT_TO_PACKAGE = {"yaml": "pyyaml", "mpl_toolkits": "matplotlib"}


def test_rule_scripts_import_only_what_their_env_provides(repo):
    """Under --sdm conda a rule runs in its own env: everything its script imports must be there."""
    rules = "".join(p.read_text() for p in (repo / "workflow" / "rules").glob("*.smk"))
    pairs = re.findall(r'conda:\s*\n\s*"([^"]+)"\s*\n\s*script:\s*\n\s*"([^"]+)"', rules)
    assert len(pairs) == len(re.findall(r"^    script:", rules, flags=re.M))
    for env, script in pairs:
        provided = set(env_requirements((repo / "workflow" / "rules" / env).resolve()))
        script_path = (repo / "workflow" / "rules" / script).resolve()
        for module in third_party_imports(script_path, repo / "scripts"):
            package = IMPORT_TO_PACKAGE.get(module, module)
            assert package in provided, f"{script_path.name} imports {module}, absent from {env}"
