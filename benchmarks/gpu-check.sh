#!/usr/bin/env bash
# The checks that need a CUDA GPU, in one go: the CUDA tests (compiled Triton kernels, fp16
# with a gradient scaler), the CUDA benchmark cases (pull-away kernels, trainer steps in fp32,
# bf16 and compiled), the default run's steps/s on the GPU, and one NCCL process under torchrun.
#
#     bash benchmarks/gpu-check.sh OUT_DIR
#
# Writes OUT_DIR/tests.log, OUT_DIR/bench/results.{json,md} and OUT_DIR/train.md.
set -uo pipefail
out=${1:?usage: bash benchmarks/gpu-check.sh OUT_DIR}
mkdir -p "$out"
python=${PYTHON:-python3}
runs=$(mktemp -d)
status=0

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
"$python" -m energan.cli --version

echo "== CUDA tests"
"$python" -m pytest -q -p no:cacheprovider -rs tests/test_pullaway_triton.py tests/test_precision_compile.py \
    tests/test_version.py tests/test_pullaway_kernel.py tests/test_pullaway_regularizer.py 2>&1 | tee "$out/tests.log" || status=1

echo "== CUDA benchmarks"
"$python" -m energan.cli bench -k cuda --output "$out/bench" || status=1

echo "== the default run on the GPU: median logged it_per_s over 1 000 steps"
train() {  # name, then extra flags
    local name=$1
    shift
    "$python" -m energan.cli -p no:curves train --device cuda --metric none --name "$name" \
        --set runs_dir="$runs" --set steps=1000 --set eval_every=0 "$@" >"$runs/$name.log" 2>&1 || { tail -5 "$runs/$name.log"; status=1; }
}
train fp32
train bf16 --set amp=bf16
train compiled --set compile=true
train fused --set reg.pullaway.impl=fused
echo "| run | median steps/s |" >"$out/train.md"
echo "|---|---|" >>"$out/train.md"
for name in fp32 bf16 compiled fused; do
    "$python" - "$runs/$name/metrics.jsonl" "$name" >>"$out/train.md" <<'EOF'
import json, statistics, sys
rates = [line["it_per_s"] for line in map(json.loads, open(sys.argv[1])) if "it_per_s" in line]
print(f"| {sys.argv[2]} | {statistics.median(rates[len(rates) // 4:]):.1f} |")
EOF
done
cat "$out/train.md"

echo "== one NCCL process under torchrun"
torchrun --standalone --nproc_per_node=1 -m energan.cli -p no:curves train --device cuda --metric none --name nccl \
    --set runs_dir="$runs" --set steps=200 --set eval_every=0 2>&1 | tail -3 || status=1
rm -rf "$runs"
exit $status
