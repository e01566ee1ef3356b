#!/usr/bin/env bash
# The paper's 64 px path end to end on this machine (2 CPU cores), on generated JPEG folders of
# CelebA's and LSUN's file sizes (no real photo set can be downloaded here):
# prepare, 200 steps with a Ctrl-C half-way and a resume, a short exact-resume check, samples, FID;
# then imagenet128 and imagenet256 one step each.
#   bash docs/results/image-path/run.sh [OUT]      (OUT defaults to runs/image-path)
set -euo pipefail
OUT=${1:-runs/image-path}
mkdir -p "$OUT"
export ENERGAN_CACHE_DIR=$OUT/cache
python -m benchmarks.photo_folders "$OUT/celeba" celeba 1000
python -m benchmarks.photo_folders "$OUT/lsun" lsun 1000
python -m benchmarks.photo_folders "$OUT/imagenet" imagenet 600
for kind in celeba lsun; do energan prepare "$OUT/$kind" --size 64; done
FID=(--metric fid --set metrics.fid.samples=500 --set metrics.fid.training_samples=500 --set metrics.fid.reference_images=500)
RUN=(--set runs_dir="$OUT/runs" --set log_every=10 --set eval_every=0 --set checkpoint_every=50)

# Ctrl-C (SIGINT) once the run has logged step $2, then wait for it to checkpoint and stop.
interrupt_at() {
  local run=$1 step=$2; shift 2
  energan train "$@" &
  local pid=$!
  until [ -f "$run/metrics.jsonl" ] && grep -q "\"step\": $step," "$run/metrics.jsonl"; do sleep 1; done
  kill -INT "$pid"
  wait "$pid"
}

# exact resume: 12 steps straight against 6 + Ctrl-C + resume to 12 (bit for bit)
energan train --config examples/configs/celeba64.toml --data-dir "$OUT/celeba" "${RUN[@]}" --set log_every=2 --steps 12 --name exact-straight --metric none
interrupt_at "$OUT/runs/exact-resumed" 6 --config examples/configs/celeba64.toml --data-dir "$OUT/celeba" "${RUN[@]}" --set log_every=2 --steps 12 --name exact-resumed --metric none
energan train --resume "$OUT/runs/exact-resumed"
python - "$OUT/runs" <<'PY'
import sys, torch
from pathlib import Path
from energan.checkpoint import load_checkpoint
runs = Path(sys.argv[1])
a, b = load_checkpoint(runs / "exact-straight"), load_checkpoint(runs / "exact-resumed")
same = all(torch.equal(a.model[part][key], b.model[part][key]) for part in a.model for key in a.model[part])
print(f"exact resume at step {b.step}: weights {'bit for bit equal' if same else 'DIFFER'}")
PY

# celeba64 and lsun64: 200 steps, interrupted at step 100 and resumed, then samples and FID
for kind in celeba lsun; do
  interrupt_at "$OUT/runs/${kind}64" 100 --config "examples/configs/${kind}64.toml" --data-dir "$OUT/$kind" "${RUN[@]}" "${FID[@]}" --steps 200 --name "${kind}64"
  energan train --resume "$OUT/runs/${kind}64"
  energan sample "$OUT/runs/${kind}64" -n 64 -o "$OUT/${kind}64-samples.png"
done

# imagenet128 (prepared) and imagenet256 (decoded on every draw, as shipped): one step each
for size in 128 256; do
  /usr/bin/time -f "imagenet$size: %e s for the whole command" energan train --config "examples/configs/imagenet$size.toml" --data-dir "$OUT/imagenet" \
    "${RUN[@]}" --steps 1 --set data.test_images=100 --name "imagenet$size" --metric none
done
