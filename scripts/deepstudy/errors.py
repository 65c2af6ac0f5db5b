"""Errors caused by a study's input (config, files, datasets) rather than by a bug."""


class StudyInputError(RuntimeError):
    """Bad or missing input; rule scripts report it as one line, without a traceback."""
