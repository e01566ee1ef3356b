#!/usr/bin/env bash
# Trains every family of the energy-density study (README.md beside this file): grid25's recipe
# (examples/configs/grid25.toml) on grid25 and ring8, three seeds, checkpoints every 1 000 steps.
#   bash docs/results/energy-density/run.sh              # one run at a time, one thread each
#   JOBS=2 bash docs/results/energy-density/run.sh       # two at a time (an otherwise idle 2-core machine)
#   FAMILIES="gan magan" bash docs/results/energy-density/run.sh   # only these families (default: all six)
#   .venv/bin/python docs/results/energy-density/analyse.py
# A run that finished is skipped, one that stopped is resumed, one that another invocation is
# training (its flock) is left to it: a second `bash run.sh` started later shares the work.
# RUNS_DIR (default runs/energy-density) holds <dataset>/<family>-seed<N>.
set -euo pipefail
cd "$(dirname "$0")/../../.."
ENERGAN=${ENERGAN:-.venv/bin/energan}
RUNS_DIR=${RUNS_DIR:-runs/energy-density}
JOBS=${JOBS:-1}
CONFIG=examples/configs/grid25.toml
STEPS=10000  # the config's

# Each family as examples/mode_collapse.py sets it on grid25 (its family_arguments: the shipped
# family's energy, loss and regularizers; grid25's components keep their parameters: margin 0.1,
# pull-away 0.1, the auto-encoder 4 x 128). BEGAN's loss takes began.toml's recipe (gamma 1.25,
# lambda_k 0.01, k_0 0.5): its defaults (k_0 = 0) leave k pinned at 0 (docs/family.md).
# The auto-encoder alone warms up for the whole run (warmup_steps = steps): every step trains it on
# the data only, the generator never trains and the margin loss never sees a fake.
declare -A FLAGS=(
  [ebgan]="--energy autoencoder --loss margin --reg none"
  [ebgan-pt]="--energy autoencoder --loss margin --reg pullaway"
  [began]="--energy autoencoder --loss began --reg none --set loss.gamma=1.25 --set loss.lambda_k=0.01 --set loss.k_init=0.5"
  [magan]="--energy autoencoder --loss magan --reg none"
  [gan]="--energy logit --loss logistic --reg none --set energy.n_layers=4 --set energy.size=128"
  [autoencoder-alone]="--energy autoencoder --loss margin --reg none --set warmup_steps=$STEPS"
)
FAMILIES=${FAMILIES:-ebgan ebgan-pt began magan gan autoencoder-alone}

train() {  # dataset family seed
  local run="$RUNS_DIR/$1/$2-seed$3"
  mkdir -p "$RUNS_DIR/$1"
  exec 9>"$run.lock"
  flock -n 9 || return 0
  if [[ -f $run/checkpoints/step-$(printf %07d $STEPS).pt ]]; then return; fi
  if [[ -f $run/checkpoints/last.pt ]]; then
    set -- --resume "$run"
  else
    # shellcheck disable=SC2086
    set -- --config $CONFIG --data "$1" ${FLAGS[$2]} --seed "$3" \
      --set checkpoint_every=1000 --set keep_checkpoints=100 --set runs_dir="$RUNS_DIR/$1" --name "$2-seed$3"
  fi
  OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 "$ENERGAN" train "$@" >>"$run.log" 2>&1 || echo "failed: $run (see $run.log)"
}
export -f train
export ENERGAN RUNS_DIR CONFIG STEPS
FLAGS_SERIAL=$(declare -p FLAGS)
export FLAGS_SERIAL

for dataset in grid25 ring8; do
  for family in $FAMILIES; do
    for seed in 0 1 2; do echo "$dataset $family $seed"; done
  done
done | xargs -P "$JOBS" -L 1 bash -c 'eval "$FLAGS_SERIAL"; train "$@"' _
