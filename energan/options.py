"""Option values declared once, importable without torch: by the plugins' parameter declarations
(which must stay light) and by the code that acts on them."""

from __future__ import annotations

PULLAWAY_IMPLEMENTATIONS = ("auto", "fused", "triton", "reference")  # energan.kernels.pullaway
LOGISTIC_GENERATOR_LOSSES = ("non-saturating", "saturating")  # energan.losses.LogisticLoss
DEVICES = ("auto", "cpu", "cuda")  # energan.model.pick_device
