"""Plugins used by the tests, loaded with ``-p plugin_fixtures`` (tests/ is on sys.path)."""

from __future__ import annotations

from typing import Any

from energan import hookimpl

STOP_AT_STEP = 6


def build_exploding_loss(params: Any) -> Any:
    """The margin loss, except that it returns NaN after ``params.after`` discriminator calls."""
    import torch

    from energan.losses import MarginLoss

    class ExplodingLoss(MarginLoss):
        calls = 0

        def discriminator(self, s_real: torch.Tensor, s_fake: torch.Tensor) -> torch.Tensor:
            self.calls += 1
            value = super().discriminator(s_real, s_fake)
            return value * float("nan") if self.calls > params.after else value

    return ExplodingLoss(margin=1.0)


@hookimpl
def register_losses(register: Any) -> None:
    from dataclasses import dataclass

    from energan.params import param

    @dataclass(frozen=True)
    class ExplodingParams:
        after: int = param(5, "calls before NaN", low=0)

    register("exploding", build_exploding_loss, params=ExplodingParams)
    register("exponential", build_exponential_loss)
    register("relativistic", build_relativistic_loss)


@hookimpl
def on_log(run: Any, step: int, logs: dict[str, float]) -> None:
    """Early-stop runs named *-stopped at STOP_AT_STEP, like an early-stopping observer would."""
    if run.name.endswith("-stopped") and run.start_step < STOP_AT_STEP <= step:  # the first leg only
        run.request_stop()


def build_exponential_loss() -> Any:
    """A separable loss with no declared closed form: ℓ_real = e^s, ℓ_fake = e^−s (so s* = ½ log q/p)."""
    import torch

    from energan.components import SeparableLoss

    class ExponentialLoss(SeparableLoss):
        def real_penalty(self, s: torch.Tensor) -> torch.Tensor:
            return torch.exp(s)

        def fake_penalty(self, s: torch.Tensor) -> torch.Tensor:
            return torch.exp(-s)

        def generator_penalty(self, s: torch.Tensor) -> torch.Tensor:
            return s

    return ExponentialLoss()


def build_relativistic_loss() -> Any:
    """A non-separable loss: every real energy is compared with every fake one."""
    import torch
    import torch.nn.functional as F

    from energan.components import Loss

    class RelativisticLoss(Loss):
        def discriminator(self, s_real: torch.Tensor, s_fake: torch.Tensor) -> torch.Tensor:
            return F.softplus(s_real[:, None] - s_fake[None, :]).mean()

        def generator(self, s_fake: torch.Tensor) -> torch.Tensor:
            return s_fake.mean()

    return RelativisticLoss()


class RandomProbe:
    """A metric that draws from the global RNG streams, as building a classifier or sampling does:
    the trainer must keep such draws out of the training's streams."""

    name = "random_probe"
    higher_is_better = True
    requires = frozenset()

    def prepare(self, data):
        """Nothing to cache."""

    def evaluate(self, generate: Any, data: Any, final: bool = True) -> dict[str, float]:
        import torch

        return {"random_probe": torch.rand(()).item() + generate(4).mean().item()}


@hookimpl
def register_metrics(register: Any) -> None:
    register("random_probe", RandomProbe)
