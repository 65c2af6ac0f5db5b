"""The report and the Makefile's commands: one report entry per figure, captions that send the reader to
the claims table, and `make run` / `make report` on the config given by CONFIG."""

from __future__ import annotations

import ast
import shutil
import subprocess
from pathlib import Path

import pytest
from deepstudy import paths
from deepstudy.activation import workflow as activation_workflow
from deepstudy.continual import workflow as continual_workflow
from deepstudy.noise import workflow as noise_workflow
from deepstudy.regions import workflow as regions_workflow
from snakemake.io import get_flag_value, is_flagged, multiext, report

REPO = Path(__file__).resolve().parents[2]
STUDY_WORKFLOWS = (noise_workflow, regions_workflow, activation_workflow, continual_workflow)


def workflow_figure_outputs():
    """``figure_outputs`` as workflow/rules/common.smk defines it, with Snakemake's own ``report``."""
    source = (REPO / "workflow" / "rules" / "common.smk").read_text()
    tree = ast.parse(source)
    function = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "figure_outputs")
    namespace = {
        "report": report,
        "multiext": multiext,
        "FIGURE_FORMATS": paths.FIGURE_FORMATS,
        "marked_figure_outputs": paths.figure_outputs,
    }
    exec(compile(ast.Module(body=[function], type_ignores=[]), "common.smk", "exec"), namespace)
    return namespace["figure_outputs"]


@pytest.mark.parametrize("study", STUDY_WORKFLOWS, ids=lambda s: s.__name__.split(".")[1])
def test_each_figure_is_one_report_entry_with_the_pdf_beside_it(study):
    outputs = workflow_figure_outputs()(study)
    assert sorted(outputs) == sorted(study.FIGURES)
    for name, files in outputs.items():
        assert [str(f) for f in files] == paths.figure_files(study.PATHS["figure"], name)
        marked = [f for f in files if is_flagged(f, "report")]
        assert [str(f) for f in marked] == [paths.figure_files(study.PATHS["figure"], name)[0]], name
        caption = get_flag_value(marked[0], "report").caption
        assert (REPO / "workflow" / "rules" / caption).resolve().is_file(), caption


def captions() -> list[tuple[Path, str]]:
    """Each figure's caption file and the PDF that lies beside its PNG."""
    found = []
    for study in STUDY_WORKFLOWS:
        folder = study.__name__.split(".")[1]
        for name in study.FIGURES:
            pdf = paths.figure_files(study.PATHS["figure"], name)[1]
            found.append((REPO / "workflow" / "report" / folder / f"{name}.rst", pdf))
    return found


@pytest.mark.parametrize("caption, pdf", captions(), ids=lambda x: getattr(x, "stem", None))
def test_captions_name_the_pdf_and_leave_verdicts_to_the_claims_table(caption, pdf):
    """A caption says what is plotted; where it cites a paper's finding it points to the claims
    table, which says whether this run bears it out, rather than asserting it."""
    text = " ".join(caption.read_text().split())
    assert f"``{pdf}``" in text
    if any(author in text for author in ("Rolnick", "Hanin", "paper")):
        assert "Claims page (``results/claims.csv``" in text, caption


def make_commands(*arguments: str) -> list[str]:
    """The snakemake commands ``make`` would run in the repository (the venv assumed made)."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    result = subprocess.run(
        ["make", "-n", "-o", ".venv/.installed", *arguments],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return [line for line in result.stdout.splitlines() if "snakemake" in line]


@pytest.mark.parametrize("target", ["run", "report"])
def test_make_passes_the_config_to_snakemake(target):
    example = "config/examples/noise.yaml"
    (given,) = make_commands(target, f"CONFIG={example}")
    assert f"--configfile {example} " in f"{given} "
    (default,) = make_commands(target)
    assert "--configfile config/config.yaml " in f"{default} "
