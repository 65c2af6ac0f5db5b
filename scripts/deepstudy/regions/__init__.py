"""The regions study (Hanin & Rolnick 2019): linear regions and activation patterns of ReLU
networks, counted exactly, at initialisation and through training.

``workflow`` plans the analyses (torch-free). Exact methods: ``lines`` (1D, with the compiled
``kernels``), ``planes`` (2D polygons), ``distance`` (to the region boundary), all on ``layers``;
estimates: ``sampling`` (1D) and ``grid`` (2D). ``analysis`` gathers them for one network,
``memorise`` makes random-label plans, ``summary`` and ``plots`` make the store and figures.
"""
