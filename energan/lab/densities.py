"""Known densities in 1-D and 2-D, and a safe parser for specs like ``normal(0, 1)``.

Spec grammar (numbers for 1-D, ``[x, y]`` lists for 2-D)::

    normal(mean, std)                  normal([0, 0], [1, 2])   (diagonal covariance)
    uniform(low, high)                 uniform([-1, -1], [1, 1]) (a box)
    mixture(normal(-2, 0.5), normal(2, 0.5))                    (equal weights)
    mixture(normal(-2, 0.5), uniform(0, 3), weights=[0.7, 0.3])
"""

from __future__ import annotations

import abc
import ast
import dataclasses
import math

import torch
from torch import Tensor

from energan.errors import ConfigError

SPEC_FORMS = "normal(mean, std), uniform(low, high), mixture(d1, d2, ..., weights=[...])"
TAIL_STDS = 6.0  # a normal's bounding box reaches this many standard deviations


class Density(abc.ABC):
    """A probability density on R^dim that can be evaluated, sampled and shifted."""

    @property
    @abc.abstractmethod
    def dim(self) -> int:
        """The dimension of the space (1 or 2 in the lab)."""

    @abc.abstractmethod
    def log_prob(self, x: Tensor) -> Tensor:
        """log density at points ``x`` [N, dim] → [N] (−inf outside the support)."""

    @abc.abstractmethod
    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        """``n`` independent samples [n, dim] (float64)."""

    @abc.abstractmethod
    def bounds(self) -> tuple[Tensor, Tensor]:
        """A box [low, high] (each [dim]) that holds all but a negligible part of the mass."""

    @abc.abstractmethod
    def shifted(self, offset: Tensor) -> Density:
        """This density translated by ``offset`` [dim]."""

    def prob(self, x: Tensor) -> Tensor:
        """The density at points ``x`` [N, dim] → [N]."""
        return self.log_prob(x).exp()


def _vector(value: float | list[float] | Tensor) -> Tensor:
    return torch.as_tensor(value, dtype=torch.float64).reshape(-1)


@dataclasses.dataclass(frozen=True)
class Normal(Density):
    """A normal with diagonal covariance."""

    mean: Tensor
    std: Tensor

    def __post_init__(self) -> None:
        if self.mean.shape != self.std.shape:
            raise ConfigError(f"normal: mean has {self.mean.numel()} coordinates but std has {self.std.numel()}")
        if not bool((self.std > 0).all()):
            raise ConfigError(f"normal: std must be > 0, got {self.std.tolist()}")

    @property
    def dim(self) -> int:
        return self.mean.numel()

    def log_prob(self, x: Tensor) -> Tensor:
        z = (x - self.mean) / self.std
        return (-0.5 * z.square() - self.std.log() - 0.5 * math.log(2 * math.pi)).sum(-1)

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        return self.mean + self.std * torch.randn(n, self.dim, generator=generator, dtype=torch.float64)

    def bounds(self) -> tuple[Tensor, Tensor]:
        return self.mean - TAIL_STDS * self.std, self.mean + TAIL_STDS * self.std

    def shifted(self, offset: Tensor) -> Normal:
        return Normal(self.mean + offset, self.std)

    def __str__(self) -> str:
        return f"normal({_fmt(self.mean)}, {_fmt(self.std)})"


@dataclasses.dataclass(frozen=True)
class Uniform(Density):
    """The uniform density on a box."""

    low: Tensor
    high: Tensor

    def __post_init__(self) -> None:
        if self.low.shape != self.high.shape:
            raise ConfigError(f"uniform: low has {self.low.numel()} coordinates but high has {self.high.numel()}")
        if not bool((self.high > self.low).all()):
            raise ConfigError(f"uniform: need low < high, got low={self.low.tolist()} high={self.high.tolist()}")

    @property
    def dim(self) -> int:
        return self.low.numel()

    def log_prob(self, x: Tensor) -> Tensor:
        inside = ((x >= self.low) & (x <= self.high)).all(-1)
        log_volume = (self.high - self.low).log().sum()
        return torch.where(inside, -log_volume, torch.tensor(-math.inf, dtype=x.dtype))

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        return self.low + (self.high - self.low) * torch.rand(n, self.dim, generator=generator, dtype=torch.float64)

    def bounds(self) -> tuple[Tensor, Tensor]:
        return self.low.clone(), self.high.clone()

    def shifted(self, offset: Tensor) -> Uniform:
        return Uniform(self.low + offset, self.high + offset)

    def __str__(self) -> str:
        return f"uniform({_fmt(self.low)}, {_fmt(self.high)})"


@dataclasses.dataclass(frozen=True)
class Mixture(Density):
    """A finite mixture of densities of the same dimension."""

    components: tuple[Density, ...]
    weights: Tensor

    def __post_init__(self) -> None:
        if not self.components:
            raise ConfigError("mixture: needs at least one component")
        dims = {component.dim for component in self.components}
        if len(dims) != 1:
            raise ConfigError(f"mixture: components have different dimensions {sorted(dims)}")
        if len(self.weights) != len(self.components):
            raise ConfigError(f"mixture: {len(self.components)} components but {len(self.weights)} weights")
        if not bool((self.weights > 0).all()) or not math.isclose(float(self.weights.sum()), 1.0, rel_tol=1e-9):
            raise ConfigError(f"mixture: weights must be positive and sum to 1, got {self.weights.tolist()}")

    @property
    def dim(self) -> int:
        return self.components[0].dim

    def log_prob(self, x: Tensor) -> Tensor:
        parts = torch.stack([component.log_prob(x) for component in self.components], dim=-1)
        return torch.logsumexp(parts + self.weights.log(), dim=-1)

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        which = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        draws = torch.stack([component.sample(n, generator) for component in self.components])  # [K, n, dim]
        return draws[which, torch.arange(n)]

    def bounds(self) -> tuple[Tensor, Tensor]:
        lows, highs = zip(*(component.bounds() for component in self.components), strict=False)
        return torch.stack(lows).amin(0), torch.stack(highs).amax(0)

    def shifted(self, offset: Tensor) -> Mixture:
        return Mixture(tuple(component.shifted(offset) for component in self.components), self.weights)

    def __str__(self) -> str:
        inner = ", ".join(str(component) for component in self.components)
        return f"mixture({inner}, weights={_fmt(self.weights)})"


def _fmt(values: Tensor) -> str:
    numbers = [f"{value:g}" for value in values.tolist()]
    return numbers[0] if len(numbers) == 1 else "[" + ", ".join(numbers) + "]"


def parse_density(spec: str) -> Density:
    """Parse a density spec (see the module docstring); a bad spec raises a one-line ConfigError."""
    try:
        tree = ast.parse(spec.strip(), mode="eval").body
    except SyntaxError:
        raise ConfigError(f"density {spec!r} is not an expression; valid forms: {SPEC_FORMS}") from None
    return _build(tree, spec)


def _literal(node: ast.expr, spec: str) -> Tensor:
    try:
        value = ast.literal_eval(node)
    except ValueError:
        raise ConfigError(f"density {spec!r}: {ast.unparse(node)!r} is not a number or a list of numbers") from None
    numbers = value if isinstance(value, (list, tuple)) else [value]
    if not numbers or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in numbers):
        raise ConfigError(f"density {spec!r}: {ast.unparse(node)!r} is not a number or a flat list of numbers")
    return _vector(list(numbers))


def _build(node: ast.expr, spec: str) -> Density:
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        raise ConfigError(f"density {spec!r}: expected a call such as normal(0, 1); valid forms: {SPEC_FORMS}")
    name = node.func.id
    if name in ("normal", "uniform"):
        if len(node.args) != 2 or node.keywords:
            raise ConfigError(f"density {spec!r}: {name} takes two arguments; valid forms: {SPEC_FORMS}")
        first, second = (_literal(arg, spec) for arg in node.args)
        return Normal(first, second) if name == "normal" else Uniform(first, second)
    if name == "mixture":
        if not node.args:
            raise ConfigError(f"density {spec!r}: mixture needs at least one component")
        components = tuple(_build(arg, spec) for arg in node.args)
        weights = torch.full((len(components),), 1.0 / len(components), dtype=torch.float64)
        for keyword in node.keywords:
            if keyword.arg != "weights":
                raise ConfigError(f"density {spec!r}: mixture takes only weights=[...], not {keyword.arg}=")
            weights = _literal(keyword.value, spec)
        return Mixture(components, weights)
    raise ConfigError(f"density {spec!r}: unknown distribution {name!r}; valid forms: {SPEC_FORMS}")
