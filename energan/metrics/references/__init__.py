"""Inception-Score classifiers that ship with energan: data files, named as their cache entries
(energan.metrics.classifier.SHIPPED_DIR)."""
