"""deepstudy: the library behind the Snakemake workflow, usable from a notebook.

A shared core (config, datasets, data, models, training, packing, checkpoints, stores, figures, GPU
slots, paths) and one subpackage per study: ``noise``, ``regions``, ``activation``, ``continual``,
each with a torch-free ``workflow`` module that plans its runs, paths and figures.
"""

__version__ = "0.1.0"
