"""The theory lab recovers what each loss learns, through the public API and the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from energan.errors import ConfigError
from energan.lab.analysis import analyse, comparison_region
from energan.lab.densities import Mixture, Normal, Uniform, parse_density
from energan.lab.grid import grid_around
from energan.lab.learned import learn_discrepancy
from energan.lab.outer import outer_curves
from energan.lab.pointwise import optimal_discrepancy_numeric
from energan.losses import LogisticLoss, LSIFLoss, MarginLoss
from energan.plugins import load_plugins

P_SPEC, Q_SPEC = "normal(0, 1)", "normal(1, 1.5)"
LOSSES = {
    "margin": MarginLoss(0.25),
    "logistic": LogisticLoss("non-saturating"),
    "lsif": LSIFLoss(),
}
CLOSED_FORMS = {  # written out here, independently of the losses' own optimal_discrepancy
    "margin": lambda p, q: 0.25 * (q > p).double(),
    "logistic": lambda p, q: torch.log(q / p),
    "lsif": lambda p, q: q / p,
}
PAIRS = [
    (P_SPEC, Q_SPEC),
    ("mixture(normal(-2, 0.5), normal(2, 0.5))", "normal(0, 2)"),
    ("normal([0, 0], [1, 1])", "normal([1, -0.5], [1.5, 0.8])"),
]
LEARNED_TOLERANCE = {"margin": 0.05, "logistic": 0.1, "lsif": 0.5}  # max |error| where both densities are ≥ 5 % of max


def _on_grid(p_spec: str, q_spec: str, resolution: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    p, q = parse_density(p_spec), parse_density(q_spec)
    grid = grid_around([p, q], resolution)
    log_p, log_q = p.log_prob(grid.points), q.log_prob(grid.points)
    return log_p, log_q, log_p.exp(), log_q.exp()


# --- densities -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        P_SPEC,
        "uniform(-1, 2)",
        "mixture(normal(-2, .5), uniform(0, 3), weights=[.7, .3])",
        "normal([0, 0], [1, 2])",
        "uniform([-1, -1], [1, 1])",
    ],
)
def test_densities_integrate_to_one_and_sample_their_support(spec: str) -> None:
    density = parse_density(spec)
    grid = grid_around([density], 801 if density.dim == 1 else 301)
    assert grid.integrate(density.prob(grid.points)) == pytest.approx(1.0, abs=2e-2)
    samples = density.sample(2000, torch.Generator().manual_seed(0))
    assert samples.shape == (2000, density.dim)
    assert torch.isfinite(density.log_prob(samples)).all()


def test_parsed_densities_have_the_stated_parameters() -> None:
    normal = parse_density("normal([0, 1], [2, 3])")
    assert isinstance(normal, Normal) and normal.mean.tolist() == [0, 1] and normal.std.tolist() == [2, 3]
    mixture = parse_density("mixture(normal(0, 1), uniform(2, 3), weights=[0.25, 0.75])")
    assert isinstance(mixture, Mixture) and isinstance(mixture.components[1], Uniform)
    assert mixture.log_prob(torch.tensor([[2.5]], dtype=torch.float64)).exp().item() == pytest.approx(
        0.25 * math.exp(-(2.5**2) / 2) / math.sqrt(2 * math.pi) + 0.75
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("gauss(0, 1)", "unknown distribution 'gauss'"),
        ("normal(0)", "normal takes two arguments"),
        ("normal(0, -1)", "std must be > 0"),
        ("normal(0, x)", "'x' is not a number"),
        ("uniform(2, 1)", "need low < high"),
        ("normal([0, 0], [1])", "mean has 2 coordinates but std has 1"),
        ("mixture(normal(0, 1), normal(1, 1), weights=[0.5, 0.6])", "sum to 1"),
        ("normal(0, 1", "not an expression"),
        ("normal([[0, 1]], [[1, 1]])", "not a number or a flat list"),
        ("normal(['a'], [1])", "not a number or a flat list"),
        ("__import__('os')", "unknown distribution '__import__'"),
    ],
)
def test_bad_density_specs_get_one_line_errors(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as error:
        parse_density(spec)
    assert "\n" not in str(error.value)


# --- the inner loop: pointwise and learned -----------------------------------------------------


@pytest.mark.parametrize("p_spec, q_spec", PAIRS)
@pytest.mark.parametrize("name", list(LOSSES))
def test_pointwise_optimum_is_the_closed_form(name: str, p_spec: str, q_spec: str) -> None:
    log_p, log_q, p, q = _on_grid(p_spec, q_spec, 401 if "[" not in p_spec else 101)
    region = comparison_region(log_p, log_q, floor=1e-3)
    expected = CLOSED_FORMS[name](p, q)[region]
    numeric = optimal_discrepancy_numeric(LOSSES[name], p, q)[region]
    tolerance = 1e-6 * expected.abs().clamp(min=1)  # LSIF's q/p reaches the hundreds in the tails
    assert region.sum() > 50
    assert ((numeric - expected).abs() <= tolerance).all()
    assert torch.allclose(LOSSES[name].optimal_discrepancy(p, q)[region], expected)


def test_margin_optimum_is_zero_or_m_and_never_in_between() -> None:
    _, _, p, q = _on_grid(P_SPEC, Q_SPEC, 401)
    numeric = optimal_discrepancy_numeric(MarginLoss(0.7), p, q)
    away = (q - p).abs() > 1e-9
    assert torch.all(
        torch.isclose(numeric[away], torch.tensor(0.0, dtype=torch.float64), atol=1e-9)
        | torch.isclose(numeric[away], torch.tensor(0.7, dtype=torch.float64), atol=1e-9)
    )


def test_an_unbounded_pointwise_objective_gives_minus_infinity() -> None:
    """Margin without its s ≥ 0 domain: where q < p, p·s + q[m − s]⁺ decreases without bound."""

    class UnconstrainedMargin(MarginLoss):
        domain = (-math.inf, math.inf)

    numeric = optimal_discrepancy_numeric(UnconstrainedMargin(1.0), torch.tensor([0.2, 0.6, 0.0]), torch.tensor([0.6, 0.2, 0.0]))
    assert numeric[0].item() == pytest.approx(1.0) and numeric[1].item() == -math.inf and math.isnan(numeric[2].item())


def test_an_optimum_at_infinity_is_infinite() -> None:
    """Where p = 0 the logistic optimum log q/p is +∞: the search says so instead of a finite value."""
    numeric = optimal_discrepancy_numeric(LogisticLoss("non-saturating"), torch.tensor([0.0, 1.0]), torch.tensor([1.0, 0.0]))
    assert numeric.tolist() == [math.inf, -math.inf]


@pytest.mark.parametrize("name", list(LOSSES))
def test_learned_discrepancy_approaches_the_closed_form(name: str) -> None:
    p, q = parse_density(P_SPEC), parse_density(Q_SPEC)
    model = learn_discrepancy(LOSSES[name], p, q, steps=1500, seed=0)
    log_p, log_q, density_p, density_q = _on_grid(P_SPEC, Q_SPEC, 401)
    region = comparison_region(log_p, log_q, floor=5e-2)
    grid = grid_around([p, q], 401)
    with torch.no_grad():
        learned = model(grid.points)
    error = (learned - CLOSED_FORMS[name](density_p, density_q))[region].abs().max().item()
    assert error <= LEARNED_TOLERANCE[name], f"{name}: max |s_learned − s*| = {error:.3g}"


def test_learned_discrepancy_respects_the_domain() -> None:
    p, q = parse_density(P_SPEC), parse_density(Q_SPEC)
    model = learn_discrepancy(MarginLoss(0.25), p, q, steps=50)
    with torch.no_grad():
        values = model(torch.linspace(-20, 20, 501, dtype=torch.float64)[:, None])
    assert (values >= 0).all()


# --- the outer loop ----------------------------------------------------------------------------

THETAS = torch.arange(-20, 21, dtype=torch.float64) * 0.15  # θ = 0 exactly


@pytest.fixture(scope="module")
def unit_normal_grid():
    p = parse_density("normal(0, 1)")
    return p, grid_around([p], 1601, pad=torch.tensor([6.0], dtype=torch.float64))  # like analyse: 2·θ_max


def _curve(curves, name):
    return next(curve for curve in curves if curve.name == name)


@pytest.mark.parametrize("loss", [*LOSSES.values(), LogisticLoss("saturating")], ids=[*LOSSES, "logistic-saturating"])
def test_every_outer_objective_and_divergence_is_minimised_at_q_equals_p(loss, unit_normal_grid) -> None:
    p, grid = unit_normal_grid
    for curve in outer_curves(loss, p, grid, THETAS):
        assert curve.argmin == 0.0, f"{curve.name} is minimised at θ = {curve.argmin}"


def test_outer_curves_match_hand_derived_values(unit_normal_grid) -> None:
    """For Q_θ = N(θ, 1), P = N(0, 1): KL = θ²/2, E_Q[q/p] = e^{θ²}, m·Q(q > p) = m·Φ(|θ|/2), TV = 2Φ(|θ|/2) − 1."""
    p, grid = unit_normal_grid
    phi = torch.distributions.Normal(0.0, 1.0).cdf(THETAS.abs() / 2).double()
    margin = outer_curves(MarginLoss(0.5), p, grid, THETAS)
    lsif = outer_curves(LSIFLoss(), p, grid, THETAS)
    nonzero = THETAS != 0
    assert torch.allclose(_curve(margin, "E_Q f(s*)").values[nonzero], 0.5 * phi[nonzero], atol=2e-3)
    assert _curve(margin, "E_Q f(s*)").values[~nonzero].item() == 0.0  # Q = P: s* = 0 everywhere
    assert torch.allclose(_curve(margin, "TV(P,Q)").values, 2 * phi - 1, atol=2e-3)
    assert torch.allclose(_curve(lsif, "KL(Q||P)").values, THETAS**2 / 2, atol=1e-6)
    assert torch.allclose(_curve(lsif, "E_Q f(s*)").values, torch.exp(THETAS**2), rtol=1e-4)
    assert torch.allclose(_curve(lsif, "Renyi-2(Q||P)").values, THETAS**2, atol=1e-4)


def test_generator_gradients_hold_the_discriminator_fixed(unit_normal_grid) -> None:
    """With s* frozen: LSIF's gradient is ½ dV/dθ (V = e^{θ²}); the saturating f's gradient fades far
    from P while the non-saturating one keeps growing (Goodfellow et al.'s argument)."""
    p, grid = unit_normal_grid
    lsif = _curve(outer_curves(LSIFLoss(), p, grid, THETAS), "E_Q f(s*)")
    assert torch.allclose(lsif.gradients, THETAS * torch.exp(THETAS**2), rtol=1e-3, atol=1e-6)  # ½ · 2θ e^{θ²}
    curves = outer_curves(LogisticLoss("non-saturating"), p, grid, THETAS)
    saturating = _curve(curves, "E_Q f(s*) [saturating]").gradients[20:]  # θ ≥ 0
    non_saturating = _curve(curves, "E_Q f(s*) [non-saturating]").gradients[20:]
    assert saturating[0].abs() < 1e-9 and non_saturating[0].abs() < 1e-9  # Q = P: no gradient
    assert (torch.diff(saturating[-6:]) < 0).all() and saturating[-1] < 0.7 * saturating.max()  # past its peak
    assert saturating[-1] < 0.15 * non_saturating[-1]
    assert (torch.diff(non_saturating) > 0).all()


def test_far_tails_do_not_underflow_into_inf_or_nan() -> None:
    p = parse_density("normal(0, 1)")
    grid = grid_around([p], 801, pad=torch.tensor([40.0], dtype=torch.float64))  # p underflows beyond |x| ≈ 38.6
    for loss in (LogisticLoss("non-saturating"), LSIFLoss(), MarginLoss(0.5)):
        curves = outer_curves(loss, p, grid, torch.tensor([0.0, 6.0], dtype=torch.float64))
        assert all(torch.isfinite(curve.values).all() for curve in curves), type(loss).__name__


def test_as_image_puts_x_on_columns_and_y_on_rows() -> None:
    grid = grid_around([parse_density("uniform([0, 10], [1, 12])")], 16)
    image = grid.as_image(grid.points[:, 0] + 100 * grid.points[:, 1])
    x_axis, y_axis = grid.axes
    assert image[3, 5] == x_axis[5] + 100 * y_axis[3]


# --- whole analyses, third-party losses and the CLI ------------------------------------------


def test_a_third_party_loss_without_closed_form_is_solved_numerically() -> None:
    plugins = load_plugins(["plugin_fixtures"])
    loss = plugins.registries.losses.get("exponential").create({})
    result = analyse(loss, "exponential", parse_density(P_SPEC), parse_density(Q_SPEC), learn_steps=0, theta_count=9)
    assert result.closed_form is None
    region = comparison_region(result.log_p, result.log_q, floor=1e-3)
    half_log_ratio = 0.5 * (result.log_q - result.log_p)
    assert torch.allclose(result.estimates[0].values[region], half_log_ratio[region], atol=1e-6)
    assert all(curve.argmin == 0.0 for curve in result.curves)


def test_a_non_separable_loss_is_refused_by_name(cli) -> None:
    code, _, err = cli("-p", "plugin_fixtures", "lab", "--loss", "relativistic", "--learn-steps", "0")
    assert code == 1
    assert "loss 'relativistic' is not separable" in err and err.count("\n") == 1


def test_lab_command_writes_the_figure_and_reports_the_theory(cli, tmp_path: Path) -> None:
    figure = tmp_path / "lab.png"
    code, out, _ = cli(
        "lab", "--loss", "margin", "--p", P_SPEC, "--q", Q_SPEC, "-o", figure, "--learn-steps", "300", "--resolution", "201", "--json"
    )
    assert code == 0
    digest = json.loads(out)
    assert digest["estimates"]["pointwise"]["max_abs_error"] < 1e-9
    assert digest["estimates"]["learned"]["max_abs_error"] is not None
    assert {name: values["argmin_theta"] for name, values in digest["outer"].items()} == dict.fromkeys(digest["outer"], 0.0)
    assert figure.read_bytes().startswith(b"\x89PNG")


def test_lab_command_in_two_dimensions_with_tables(cli, tmp_path: Path) -> None:
    figure = tmp_path / "lab2d.pdf"
    code, out, _ = cli(
        "lab",
        "--loss",
        "logistic",
        "--set",
        "generator_loss=saturating",
        "--p",
        "normal([0, 0], [1, 1])",
        "--q",
        "mixture(normal([1, 1], [1, 1]), uniform([-2, -2], [0, 0]))",
        "-o",
        figure,
        "--learn-steps",
        "100",
        "--resolution",
        "41",
        "--theta-max",
        "1",
    )
    assert code == 0, out
    assert "pointwise" in out and "learned" in out and "E_Q f(s*) [saturating]" in out and "KL(Q||P)" in out
    assert figure.read_bytes().startswith(b"%PDF")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--loss", "hinge"], "unknown loss 'hinge'"),
        (["--set", "margin=-1"], "margin: -1.0 is outside the valid range"),
        (["--set", "radius=2"], "has no parameter 'radius'"),
        (["-o", "lab.xyz"], "unknown figure format 'xyz'"),
        (["--theta-max", "inf"], "--theta-max inf"),
        (["--p", "normal(0, 0)"], "std must be > 0"),
        (["--p", "normal([0, 0], [1, 1])"], "P is 2-D but Q is 1-D"),
        (["--resolution", "3"], "--resolution 3"),
        (["--learn-steps", "-1"], "--learn-steps -1"),
        (["--set", "margin"], "expected key=value"),
    ],
)
def test_lab_command_errors_name_the_bad_value(cli, tmp_path: Path, args: list[str], message: str) -> None:
    code, _, err = cli("lab", "-o", tmp_path / "x.png", "--learn-steps", "0", *args)
    assert code == 1 and message in err, err
    assert not (tmp_path / "x.png").exists()


def test_json_summary_is_strict_json_even_with_infinite_divergences(cli, tmp_path: Path) -> None:
    """A uniform P gives KL(Q‖P) = ∞ for every shift: the JSON says null, not Infinity or NaN."""
    code, out, err = cli(
        "lab",
        "--loss",
        "logistic",
        "--p",
        "uniform(-1, 1)",
        "--q",
        "normal(0, 0.5)",
        "--json",
        "-o",
        tmp_path / "u.png",
        "--learn-steps",
        "0",
        "--resolution",
        "201",
        "--theta-max",
        "1",
    )
    assert code == 0, err
    digest = json.loads(out, parse_constant=lambda name: pytest.fail(f"non-JSON constant {name}"))
    assert digest["outer"]["KL(Q||P)"]["gradient_at_edge"] is None
    assert digest["estimates"]["pointwise"]["max_abs_error"] < 1e-6
