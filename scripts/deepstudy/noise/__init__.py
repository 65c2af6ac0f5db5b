"""The label-noise study (Rolnick et al. 2017): accuracy when each clean training example is
diluted with α noisy ones.

``workflow`` plans the runs and packs (torch-free); ``plans`` makes dilution plans; ``sources`` the
images source noise draws from; ``summary`` and ``plots`` turn the runs into the study's store and
figures. Training itself is the shared :mod:`deepstudy.plan_training`.
"""
