"""examples/least_squares_loss.py: a third-party loss in one file, checked like a built-in one."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from energan.lab.pointwise import optimal_discrepancy_numeric
from energan.plugins import load_plugins

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "least_squares_loss.py"


def least_squares(**values: float):
    return load_plugins([str(EXAMPLE)]).registries.losses.get("least-squares").create(values)


def test_penalties_by_hand() -> None:
    loss = least_squares()
    s = torch.tensor([-1.0, 0.0, 2.0])
    assert loss.real_penalty(s).tolist() == [0.0, 0.5, 4.5]  # ½(s + 1)²
    assert loss.fake_penalty(s).tolist() == [2.0, 0.5, 0.5]  # ½(s − 1)²
    assert loss.generator_penalty(s).tolist() == [0.5, 0.0, 2.0]  # ½s², the Pearson χ² target
    assert least_squares(target=-1.0).generator_penalty(s).tolist() == [0.0, 0.5, 4.5]
    # f_D on a batch: mean ½(s_real + 1)² + mean ½(s_fake − 1)² = (0 + 0.5)/2 + (0.5 + 2)/2
    assert loss.discriminator(torch.tensor([-1.0, 0.0]), torch.tensor([2.0, -1.0])).item() == 1.5


def test_gradients_in_float64() -> None:
    loss = least_squares(target=0.3)
    real = torch.randn(6, dtype=torch.float64, requires_grad=True)
    fake = torch.randn(6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(loss.discriminator, (real, fake))
    assert torch.autograd.gradcheck(loss.generator, (fake,))


def test_closed_form_optimum_is_the_pointwise_solution() -> None:
    p = torch.tensor([0.1, 0.5, 1.0, 2.0, 3.0], dtype=torch.float64)
    q = torch.tensor([1.0, 0.5, 3.0, 0.2, 3.0], dtype=torch.float64)
    closed = least_squares().optimal_discrepancy(p, q)
    assert torch.allclose(closed, (q - p) / (q + p))
    # A quadratic's minimum is flat: float64 resolves its argmin to about √ε ≈ 1e-8, as for LSIF.
    assert torch.allclose(optimal_discrepancy_numeric(least_squares(), p, q), closed, rtol=0, atol=1e-6)


def test_lab_and_train_take_the_plugin_file(cli, quick_config) -> None:
    code, out, err = cli("-p", EXAMPLE, "lab", "--loss", "least-squares", "--json", "--learn-steps", "0", "--resolution", "201")
    assert code == 0, err
    digest = json.loads(out)
    assert digest["estimates"]["pointwise"]["max_abs_error"] < 1e-6  # the closed form against the numerical solve
    assert {values["argmin_theta"] for values in digest["outer"].values()} == {0.0}  # the generator's optimum is Q = P
    code, _, err = cli("-p", EXAMPLE, "train", "--config", quick_config(steps=4), "--loss", "least-squares", "--energy", "logit")
    assert code == 0, err
