"""The known mixture density, the grid and the rank correlations of an energy with −log P, checked by hand."""

from __future__ import annotations

import numpy as np
import pytest
from einops import rearrange
from scipy.stats import norm

from energan.data.mixtures import PAPER_STD, SCALE, load_mixture, mixture_modes
from energan.metrics.known_density import GaussianMixture, density_correlations, kde_log_ratio, rank_correlation, square_grid

GRID25 = GaussianMixture(mixture_modes("grid25").numpy() / SCALE["grid25"], PAPER_STD["grid25"] / SCALE["grid25"])


def test_one_mode_is_a_product_of_normals() -> None:
    mixture = GaussianMixture(np.array([[0.5, -1.0]]), 0.3)
    points = np.array([[0.0, 0.0], [0.5, -1.0], [2.0, 1.0]])
    expected = norm(0.5, 0.3).logpdf(points[:, 0]) + norm(-1.0, 0.3).logpdf(points[:, 1])
    np.testing.assert_allclose(mixture.log_density(points), expected)


def test_two_modes_average_their_densities() -> None:
    mixture = GaussianMixture(np.array([[-1.0], [1.0]]), 0.5)
    points = np.array([[0.0], [1.0], [3.0]])
    expected = np.log(0.5 * norm(-1, 0.5).pdf(points[:, 0]) + 0.5 * norm(1, 0.5).pdf(points[:, 0]))
    np.testing.assert_allclose(mixture.log_density(points), expected)


def test_extra_covariance_widens_each_mode() -> None:
    mixture = GaussianMixture(np.array([[0.0, 0.0]]), 0.3)
    points = np.array([[0.2, 0.1]])
    expected = norm(0, 0.5).logpdf(0.2) + norm(0, 0.5).logpdf(0.1)  # 0.3² + 0.4² = 0.5²
    np.testing.assert_allclose(mixture.log_density(points, 0.16 * np.eye(2)), expected)


def test_the_data_are_drawn_from_this_density() -> None:
    data = load_mixture("grid25", 2000, PAPER_STD["grid25"], seed=0)
    points = rearrange(data.train_images.numpy(), "n d 1 1 -> n d")
    np.testing.assert_allclose(data.modes.numpy(), GRID25.modes)
    assert data.mode_std == pytest.approx(GRID25.std)
    assert GRID25.near_data(points).mean() > 0.99  # P ≥ 1e-3 of its peak lies within 3.7σ of a mode


def test_near_data_is_within_the_share_of_the_peak() -> None:
    mixture = GaussianMixture(np.array([[0.0]]), 1.0)
    radius = np.sqrt(-2 * np.log(1e-3))  # where a normal falls to 1e-3 of its peak: 3.72σ
    points = np.array([[0.0], [radius - 0.01], [radius + 0.01], [-radius - 0.01]])
    assert mixture.near_data(points).tolist() == [True, True, False, False]
    assert mixture.near_data(points, share=1e-4).tolist() == [True, True, True, True]


def test_the_grid_is_an_image_from_the_lower_left() -> None:
    points = square_grid(1.0, 3)
    assert points.shape == (9, 2)
    image = rearrange(points[:, 0] + 10 * points[:, 1], "(y x) -> y x", y=3)
    assert image[0].tolist() == [-11.0, -10.0, -9.0]  # bottom row, x rising
    assert image[:, 0].tolist() == [-11.0, -1.0, 9.0]  # left column, y rising


def test_an_energy_equal_to_minus_log_p_ranks_perfectly() -> None:
    points = square_grid(1.0, 60)
    negative_log_p = -GRID25.log_density(points)
    assert density_correlations(negative_log_p, points, GRID25) == pytest.approx({"rho_all": 1.0, "rho_near": 1.0})
    assert density_correlations(-negative_log_p, points, GRID25) == pytest.approx({"rho_all": -1.0, "rho_near": -1.0})
    assert density_correlations(np.tanh(negative_log_p / 1e4), points, GRID25)["rho_all"] == pytest.approx(1.0)


def test_near_the_data_ignores_the_far_points() -> None:
    points = square_grid(1.0, 100)
    negative_log_p = -GRID25.log_density(points)
    near = GRID25.near_data(points)
    scrambled = np.where(near, negative_log_p, np.random.default_rng(0).permutation(negative_log_p))
    rhos = density_correlations(scrambled, points, GRID25)
    assert rhos["rho_near"] == pytest.approx(1.0)
    assert rhos["rho_all"] < 0.5


def test_rank_correlation_by_hand() -> None:
    assert rank_correlation(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 3.0, 2.0, 4.0])) == pytest.approx(0.8)
    where = np.array([True, True, False, True])
    assert rank_correlation(np.array([1.0, 2.0, 9.0, 4.0]), np.array([1.0, 3.0, 0.0, 4.0]), where) == pytest.approx(1.0)


def test_kde_of_p_itself_gives_a_ratio_near_zero_in_the_bulk() -> None:
    data = load_mixture("grid25", 20_000, PAPER_STD["grid25"], seed=1)
    samples = rearrange(data.train_images.numpy(), "n d 1 1 -> n d")
    points = GRID25.modes + np.array([[0.02, -0.01]])  # 2σ off each mode
    log_ratio = kde_log_ratio(samples, points, GRID25)
    assert np.abs(log_ratio).max() < 0.15


def test_kde_of_a_shifted_q_is_positive_on_its_side() -> None:
    mixture = GaussianMixture(np.array([[0.0, 0.0]]), 0.1)
    samples = np.random.default_rng(0).normal([0.1, 0.0], 0.1, size=(5000, 2))
    log_ratio = kde_log_ratio(samples, np.array([[0.2, 0.0], [-0.2, 0.0]]), mixture)
    assert log_ratio[0] > 0.5 > -0.5 > log_ratio[1]
