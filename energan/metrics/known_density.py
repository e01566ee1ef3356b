"""How well an energy ranks points by a known density: rank correlations of s(x) with −log P(x)."""

from __future__ import annotations

import dataclasses

import numpy as np
from einops import rearrange
from scipy.special import logsumexp
from scipy.stats import gaussian_kde, multivariate_normal, spearmanr

NEAR_DATA = 1e-3  # "near the data": P at least this share of its peak


@dataclasses.dataclass(frozen=True)
class GaussianMixture:
    """Equal-weight isotropic Gaussians of ``std`` at ``modes`` [K, D]: the true P of a 2-D mixture."""

    modes: np.ndarray
    std: float

    def log_density(self, points: np.ndarray, extra_covariance: np.ndarray | None = None) -> np.ndarray:
        """log P at ``points`` [N, D]; with ``extra_covariance`` [D, D], log of P convolved with
        a zero-mean Gaussian of that covariance (what a kernel density estimate of P tends to)."""
        dim = self.modes.shape[1]
        covariance = self.std**2 * np.eye(dim) + (np.zeros((dim, dim)) if extra_covariance is None else extra_covariance)
        per_mode = np.stack([multivariate_normal(mode, covariance).logpdf(points) for mode in self.modes])
        return logsumexp(np.atleast_2d(per_mode), axis=0, b=1 / len(self.modes))

    def near_data(self, points: np.ndarray, share: float = NEAR_DATA) -> np.ndarray:
        """Boolean [N]: points where P is at least ``share`` of its peak (the largest P at a mode)."""
        peak = self.log_density(self.modes).max()
        return self.log_density(points) >= peak + np.log(share)


def square_grid(half_width: float, resolution: int) -> np.ndarray:
    """``resolution``² points [R·R, 2] covering [−half_width, half_width]², row by row from the
    bottom: ``rearrange(values, "(y x) -> y x", y=R)`` is an image with the origin at the lower left."""
    axis = np.linspace(-half_width, half_width, resolution)
    ys, xs = np.meshgrid(axis, axis, indexing="ij")
    return rearrange(np.stack([xs, ys]), "d y x -> (y x) d")


def rank_correlation(values: np.ndarray, target: np.ndarray, where: np.ndarray | None = None) -> float:
    """Spearman's ρ of ``values`` with ``target``, on the points ``where`` selects (all by default)."""
    if where is not None:
        values, target = values[where], target[where]
    return float(spearmanr(values, target).statistic)


def density_correlations(energy: np.ndarray, points: np.ndarray, mixture: GaussianMixture) -> dict[str, float]:
    """ρ of an energy s(x) at ``points`` with −log P: on every point and on the points near the data."""
    negative_log_p = -mixture.log_density(points)
    return {
        "rho_all": rank_correlation(energy, negative_log_p),
        "rho_near": rank_correlation(energy, negative_log_p, mixture.near_data(points)),
    }


def kde_log_ratio(samples: np.ndarray, points: np.ndarray, mixture: GaussianMixture, bandwidth: str | float = "scott") -> np.ndarray:
    """log Q̂/P̃ at ``points``: Q̂ is scipy's gaussian_kde of the generator's ``samples`` [n, D] with
    ``bandwidth`` (its bw_method), P̃ the true P convolved with the same kernel, so the kernel's
    smoothing cancels and the ratio is 0 wherever Q = P."""
    kde = gaussian_kde(rearrange(samples, "n d -> d n"), bw_method=bandwidth)
    return kde.logpdf(rearrange(points, "n d -> d n")) - mixture.log_density(points, kde.covariance)
