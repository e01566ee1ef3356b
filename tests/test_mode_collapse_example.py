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


def _run(config: Path, out: Path) -> str:
    bin_dir = str(Path(sys.executable).parent)
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--config", str(config), "--seeds", "0", "1", "--jobs", "2", "--out", str(out)],
        capture_output=True, text=True, env={"PATH": bin_dir, "ENERGAN_CACHE_DIR": str(out / "cache")}, timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_every_family_and_seed_in_the_report_and_reruns_skip(tmp_path: Path) -> None:
    config = tmp_path / "tiny.toml"
    config.write_text(TINY)
    out = tmp_path / "out"
    _run(config, out)
    report = (out / "report.md").read_text()
    rows = [line for line in report.splitlines() if line.startswith("| ebgan") or line.startswith("| gan")]
    assert [row.split("|")[1].strip() for row in rows] == ["ebgan", "ebgan-pt", "gan"]
    assert all(" of 25 |" in row for row in rows)
    gan_config = (out / "gan-seed0" / "config.toml").read_text()
    assert 'name = "logistic"' in gan_config and "n_layers = 3" in gan_config and "size = 16" in gan_config
    assert "[reg.pullaway]" in (out / "ebgan-pt-seed1" / "config.toml").read_text()
    assert "[reg.pullaway]" not in (out / "ebgan-seed1" / "config.toml").read_text()
    logs = {path: path.stat().st_size for path in out.glob("*.log")}
    _run(config, out)  # finished runs are not trained again
    assert {path: path.stat().st_size for path in out.glob("*.log")} == logs
    assert (out / "report.md").read_text() == report
