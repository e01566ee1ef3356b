#!/usr/bin/env bash
# The detection study of docs/energy.md (README.md beside this file): every family's shipped recipe
# and the auto-encoder trained alone, three seeds each, then each energy as a detector.
#   bash docs/results/energy/run.sh            # about 50 minutes on 2 idle cores
# RUNS_DIR (default runs/energy) holds the sweep's runs; a stopped sweep continues when rerun.
set -euo pipefail
cd "$(dirname "$0")/../../.."
ENERGAN=${ENERGAN:-.venv/bin/energan}
PYTHON=${PYTHON:-.venv/bin/python}
RUNS_DIR=${RUNS_DIR:-runs/energy}
HERE=docs/results/energy
SWEEP=$RUNS_DIR/sweeps/seeds-mnist5k-12000

"$ENERGAN" sweep --grid $HERE/seeds.toml --family ebgan --family ebgan-pt --family began --family magan --family gan \
  --steps 12000 --workers 2 --threads 1 --runs-dir "$RUNS_DIR"
"$ENERGAN" sweep --grid $HERE/seeds.toml --family $HERE/autoencoder-alone.toml --steps 12000 --study autoencoder-alone \
  --workers 2 --threads 1 --runs-dir "$RUNS_DIR"
"$ENERGAN" report seeds-mnist5k-12000 --runs-dir "$RUNS_DIR" --output $HERE/sweep   # each run's Inception Score

# The AUROC table (auroc.md) and every run's AUROC, AUPR and FPR95 (per-run.csv).
"$PYTHON" $HERE/analyse.py "$RUNS_DIR"

# The lowest- and highest-energy held-out digits of each family's seed-0 run, through energan score.
mkdir -p $HERE/grids
for family in ebgan ebgan-pt began magan gan autoencoder-alone; do
  sweep=$SWEEP; [ $family = autoencoder-alone ] && sweep=$RUNS_DIR/sweeps/autoencoder-alone
  run=$(grep -l '^seed = 0$' "$sweep/$family"/p*/config.toml | head -1 | xargs dirname)
  "$ENERGAN" score "$run" dataset:mnist5k:test --lowest 32 --highest 32 -o "$RUNS_DIR/scores/$family.csv"
  cp "$RUNS_DIR/scores/$family-lowest.png" "$RUNS_DIR/scores/$family-highest.png" $HERE/grids/
done
