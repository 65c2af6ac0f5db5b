"""The strategies' names, kept free of torch so that the workflow and the plots can read them."""

STRATEGIES = ("finetune", "joint", "er", "clear", "derpp", "ewc")
#: Strategies that keep a replay buffer, whose size is a swept factor.
REPLAY_STRATEGIES = ("er", "clear", "derpp")
