"""deepstudy: the library behind the Snakemake workflow (data, noise, models, training, stores, plots)."""

__version__ = "0.1.0"
