"""examples/mode_collapse.py end to end on a tiny grid25 budget: every family, a table, reruns skip."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "mode_collapse.py"

TINY = """
steps = 6
batch_size = 32
eval_every = 3
checkpoint_every = 3
device = "cpu"

[data]
name = "grid25"
points = 500

[generator]
name = "mlp"
latent_dim = 2
size = 16
batch_norm = false

[energy]
name = "autoencoder"
n_layers = 3
size = 16

[loss]
name = "margin"
margin = 0.1

[reg.pullaway]
weight = 0.1

[metrics.mode_coverage]
samples = 100
min_samples = 2
"""


def _run(config: Path, out: Path) -> subprocess.CompletedProcess:
    bin_dir = str(Path(sys.executable).parent)
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--config", str(config), "--seeds", "0", "0", "--jobs", "2", "--out", str(out)],
        capture_output=True,
        text=True,
        env={"PATH": bin_dir, "ENERGAN_CACHE_DIR": str(out / "cache")},
        timeout=600,
    )


def test_every_family_in_the_report_reruns_skip_and_more_steps_resume(tmp_path: Path) -> None:
    config = tmp_path / "tiny.toml"
    config.write_text(TINY)
    out = tmp_path / "out"
    assert _run(config, out).returncode == 0
    assert sorted(path.name for path in out.iterdir() if path.is_dir() and path.name != "cache") == [
        "ebgan-pt-seed0",
        "ebgan-seed0",
        "gan-seed0",
    ]
    report = (out / "report.md").read_text()
    rows = [line for line in report.splitlines() if line.startswith(("| ebgan", "| gan"))]
    assert [row.split("|")[1].strip() for row in rows] == ["ebgan", "ebgan-pt", "gan"]
    assert all(" of 25 |" in row for row in rows) and "after 6 steps" in report
    gan_config = (out / "gan-seed0" / "config.toml").read_text()
    assert 'name = "logistic"' in gan_config and "n_layers = 3" in gan_config and "size = 16" in gan_config
    assert "[reg.pullaway]" in (out / "ebgan-pt-seed0" / "config.toml").read_text()
    assert "[reg.pullaway]" not in (out / "ebgan-seed0" / "config.toml").read_text()

    logs = {path: path.stat().st_size for path in out.glob("*.log")}
    assert _run(config, out).returncode == 0  # finished runs are not trained again
    assert {path: path.stat().st_size for path in out.glob("*.log")} == logs
    assert (out / "report.md").read_text() == report

    config.write_text(TINY.replace("steps = 6", "steps = 9"))  # a larger budget continues the same runs
    assert _run(config, out).returncode == 0
    assert "after 9 steps" in (out / "report.md").read_text()
    assert all("--resume" not in path.read_text() and "at step 9" in path.read_text() for path in out.glob("*.log"))


def test_a_run_that_fails_is_named_with_its_log(tmp_path: Path) -> None:
    config = tmp_path / "broken.toml"
    config.write_text(TINY.replace("margin = 0.1", "margin = -1"))
    result = _run(config, tmp_path / "out")
    assert result.returncode == 1
    assert "mode_collapse: " in result.stderr and "stopped before its mode_coverage at step 6" in result.stderr
    assert ".log" in result.stderr
