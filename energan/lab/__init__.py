"""The theory lab: the optimal discrepancy of a separable loss for known P and Q, and its outer loop.

``analysis.analyse`` runs one experiment; ``energan lab`` is its command line (docs/lab.md).
"""
