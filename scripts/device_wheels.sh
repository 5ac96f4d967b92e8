#!/usr/bin/env bash
# Wheels the GPU machine lacks (its python3 3.12 has torch, h5py, timm, sklearn, pandas, but no PyPI):
# run here, then carry .whl in the device call (see README, "Checking a GPU machine").
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl \
  open_clip_torch ftfy wcwidth faiss-cpu pytorch-metric-learning
du -sh .whl
