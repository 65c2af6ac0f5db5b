# What every study's rules share: config validation, each job's log and benchmark file, GPUs, figures.
from deepstudy.activation import workflow as activation_workflow
from deepstudy.config import ConfigError, load_schema, validate
from deepstudy.continual import workflow as continual_workflow
from deepstudy.noise import workflow as noise_workflow
from deepstudy.paths import CLAIMS, DATASET, benchmark_path, labels, log_path
from deepstudy.paths import figure_outputs as marked_figure_outputs
from deepstudy.regions import workflow as regions_workflow

# The config is complete and consistent before any job is planned: the schema fills in defaults,
# then each listed study checks what a schema cannot.
STUDY_CHECKS = {
    "noise": noise_workflow.check,
    "regions": regions_workflow.check,
    "continual": continual_workflow.check,
}
try:
    validate(config, load_schema(workflow.source_path("../schemas/config.schema.yaml")), STUDY_CHECKS)
except ConfigError as error:
    raise WorkflowError(str(error)) from None


def gpu_count():
    """GPUs a training job asks the scheduler for."""
    return 0 if config["device"] == "cpu" else 1


def figure_outputs(study):
    """A plot rule's named outputs: each figure of a study's workflow module, PNG and PDF; the PNG
    alone is in the report, with its caption (report/<study>/<figure>.rst, which names the PDF beside
    it), under the study's category: one entry per figure."""
    folder = study.__name__.split(".")[-2]
    return marked_figure_outputs(
        study.PATHS["figure"],
        study.FIGURES,
        lambda path, name: report(
            path, caption=f"../report/{folder}/{name}.rst", category=study.REPORT_CATEGORY
        ),
    )
