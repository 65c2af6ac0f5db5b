"""The activation-length study (Hanin & Rolnick 2018): how the squared length of activations
behaves at initialisation, and whether training starts, over depth, widths and init.

``workflow`` names its stores and figures (torch-free); ``lengths`` holds the measurements,
``analysis`` the tables, ``plots`` the figures.
"""
