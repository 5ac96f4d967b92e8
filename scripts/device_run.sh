#!/usr/bin/env bash
# The one prepared GPU session (issue 16, item 5): device-vs-CPU checks, then the embedding,
# evaluation and scale benchmarks on cuda, each under `timeout`, ~6 minutes in all (limits sum to 440 s
# plus the wheel install). Logs go to OUT (default outputs/device), one file per step plus run.log.
#
#   bash scripts/device_wheels.sh                      # here, with PyPI: wheels into .whl/ (ignored by git)
#   run(command="bash scripts/device_run.sh $OUT", carry=[".whl"], timeout_s=420)   # the device tool
#
# On the device machine python3 (3.12) has torch but not open_clip/faiss/pml: the carried .whl/ is
# installed into /tmp/site. Each step's exit status is printed; a failed or timed-out step does
# not stop the next one. Exit status: 0 when every step exited 0, else 1.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-outputs/device}"
mkdir -p "$OUT"
PY="${DEVICE_PY:-python3}"
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1
if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 3)" 2>/dev/null; then
  echo "error: $PY has no torch with a CUDA device here; run this on a GPU machine (DEVICE_PY=<python with torch>)" \
    | tee "$OUT/run.log" >&2
  exit 2
fi
if ! "$PY" -c "import open_clip, faiss, pytorch_metric_learning" 2>/dev/null; then
  if [ -d .whl ]; then
    "$PY" -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl 2>&1 | tail -3
    export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
  else
    echo "open_clip/faiss/pml missing and no .whl/ here: run scripts/device_wheels.sh and carry .whl" | tee "$OUT/run.log"
    exit 2
  fi
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '-')" | tee "$OUT/run.log"
nproc | sed 's/^/cores /' | tee -a "$OUT/run.log"

failed=0
step() {  # step NAME SECONDS command...: run under timeout, log to OUT/NAME.log, record the status
  local name=$1 limit=$2
  shift 2
  local start=$SECONDS
  echo "== $name (limit ${limit}s): $*" | tee -a "$OUT/run.log"
  timeout --signal=TERM --kill-after=10 "$limit" "$@" 2>&1 | grep -v "No pretrained weights loaded" | tee "$OUT/$name.log"
  local rc=${PIPESTATUS[0]}
  [ "$rc" = 124 ] && echo "!! $name timed out after ${limit}s" | tee -a "$OUT/run.log"
  echo "== $name exit $rc in $((SECONDS - start))s" | tee -a "$OUT/run.log"
  [ "$rc" = 0 ] || failed=1
}

step check 100 "$PY" scripts/device_check.py --out "$OUT/device_check.json"
step embed 170 "$PY" scripts/bench_embed.py --device cuda --backbones vit-b-32 --images 16384 --naive-images 32 \
  --workers 8,15 --loader --compare-whole --device-decode
step embed_varied 60 "$PY" scripts/bench_embed.py --device cuda --backbones vit-b-32 --images 4096 --naive-images 8 \
  --workers 15 --varied-sizes --device-decode
step eval 50 "$PY" scripts/bench_eval.py --device cuda --k none --pml-budget 15 --repeats 1 \
  --neighbour-sizes 1000 --neighbour-threads 2
step scale 60 "$PY" scripts/bench_scale.py --device cuda
echo "total ${SECONDS}s" | tee -a "$OUT/run.log"
exit $failed
