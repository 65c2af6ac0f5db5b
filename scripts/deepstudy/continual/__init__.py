"""Continual learning without task boundaries: task streams, replay strategies, forgetting metrics.

``streams`` makes a stream plan (which example, of which task, in which order, under which
transformation) without torch; ``learner`` trains a strategy on it and evaluates every task along
the way; ``summarize`` turns an accuracy matrix into the field's metrics.
"""

from deepstudy.continual.metrics import summarize

__all__ = ["summarize"]
