#!/usr/bin/env bash
# The GPU path on a GPU host, in one short run (< 5 minutes): the card, then the engine on
# CUDA (torch, fp16; detection batched across equal-sized pages, recognition in width-sorted
# batches of rec_batch_size_gpu, rasterization prefetched on a CPU thread) against fp32, on
# generated pages and FUNSD pages, printing pages/s per GPU and the wall-time split per stage.
#
#   bench/gpu_check.sh                 # PYTHON=... to pick the interpreter (default .venv)
#   PAGES=60 FUNSD_PAGES=30 bench/gpu_check.sh
#
# Needs the project installed with a CUDA build of torch (the host's own; nothing is
# downloaded). Writes the JSON to $OUT (default /tmp/ocr-bench-gpu/gpu_check.json).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
OUT=${OUT:-/tmp/ocr-bench-gpu/gpu_check.json}
mkdir -p "$(dirname "$OUT")"

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
PYTHONPATH=. "$PY" -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda,
"devices", torch.cuda.device_count(), torch.cuda.get_device_name(0) if torch.cuda.is_available()
else "NO CUDA")'
FUNSD=()
[ -d ../shared/data/funsd-train ] && FUNSD=(--funsd ../shared/data/funsd-train)
PYTHONPATH=. timeout 270 "$PY" bench/cost_per_page.py --device cuda --systems engine fp32 \
    --pages "${PAGES:-60}" --funsd-pages "${FUNSD_PAGES:-30}" "${FUNSD[@]}" --chunk-pages 20 \
    --work /tmp/ocr-bench-gpu --json "$OUT"
