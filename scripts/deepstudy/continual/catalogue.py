"""What each continual-learning strategy is, kept free of torch so that the workflow, the schema
test, the summary and the plots can read it: its name, whether it keeps a replay buffer (whose size
is then a swept factor), whether it is told where tasks end, and whether it sees the stream
shuffled (and so has no task order to transfer or forget along).

Each strategy class of :mod:`deepstudy.continual.strategies` declares its traits from this table,
and the table of classes is built from those declarations.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StrategyTraits:
    name: str
    uses_buffer: bool = False
    uses_task_boundaries: bool = False
    shuffles_stream: bool = False

    @property
    def task_ordered(self) -> bool:
        """Whether the strategy meets the tasks in order, so that the rows of its accuracy matrix are
        task ends and its transfer and forgetting mean something: not so on a shuffled stream, whose
        matrix is read at the task ends' positions of an i.i.d. order."""
        return not self.shuffles_stream


CATALOGUE = (
    StrategyTraits("finetune"),
    StrategyTraits("joint", shuffles_stream=True),
    StrategyTraits("er", uses_buffer=True),
    StrategyTraits("clear", uses_buffer=True),
    StrategyTraits("derpp", uses_buffer=True),
    StrategyTraits("ewc", uses_task_boundaries=True),
)
TRAITS = {traits.name: traits for traits in CATALOGUE}
STRATEGIES = tuple(TRAITS)
#: Strategies that keep a replay buffer, whose size is a swept factor.
REPLAY_STRATEGIES = tuple(traits.name for traits in CATALOGUE if traits.uses_buffer)
#: The diagonal Fishers online EWC can weight its penalty with (``continual.ewc.fisher``): the
#: expectation over the model's own predictions (the true Fisher), or the empirical one at the labels.
FISHERS = ("expected", "empirical")
