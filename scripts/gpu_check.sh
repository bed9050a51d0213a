#!/usr/bin/env bash
# Prepared GPU check for sapnet_ros, a few minutes on any NVIDIA GPU:
#   1. what is installed (GPU, TensorRT, cuda-python, onnxruntime providers, torch CUDA);
#   2. a TensorRT fp16 engine built with sapnet-build-engine (when TensorRT is installed);
#   3. parity of every GPU backend/precision with the CPU reference on the official sample;
#   4. the benchmark table for the GPU variants (PyTorch fp32 on the CPU is the 1.0x reference).
# Usage: scripts/gpu_check.sh [OUTPUT_DIR]   (PYTHON=... to use another interpreter)
# int8 TensorRT needs a symmetric Q/DQ model; set SAPNET_GPU_INT8=1 to make one (minutes of calibration).
set -uo pipefail  # no -e: a failing step is reported and the next one still runs
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
OUT=${1:-gpu_check}
mkdir -p "$OUT"
FAILED=()

echo "== 1. environment"
nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv,noheader || echo "nvidia-smi: not found"
"$PYTHON" - <<'EOF'
import importlib.util
import onnxruntime
import torch
print("torch", torch.__version__, "cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
print("onnxruntime", onnxruntime.__version__, onnxruntime.get_available_providers())
for module in ("tensorrt", "cuda"):
    spec = importlib.util.find_spec(module)
    version = getattr(importlib.import_module(module), "__version__", "present") if spec else "absent"
    print(module, version)
EOF

echo "== 2. TensorRT engine (default profile 320x240..1920x1080, into the engine cache the backend uses)"
if "$PYTHON" -c "import tensorrt" 2>/dev/null; then
    ENGINES=$("$PYTHON" -c "from sapnet_ros.backends.engine import engine_dir; print(engine_dir())")
    time "$PYTHON" -m sapnet_ros.backends.engine --onnx models/sapnet.onnx --output "$ENGINES" --precision fp16 \
        || FAILED+=("engine build")
    cp "$ENGINES"/*.json "$OUT/" 2>/dev/null
else
    echo "TensorRT not installed: checking ONNX Runtime CUDA and PyTorch CUDA instead"
fi

echo "== 3. parity with the CPU reference (official sample, 481x321)"
"$PYTHON" - "$OUT" <<'EOF'
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from sapnet_ros.backends import BackendOptions, create_backend, unavailable_reason
from sapnet_ros.derainer import to_network
from sapnet_ros.images import read_image
from sapnet_ros.resources import sample_images

out = Path(sys.argv[1])
sample = to_network(read_image(next(p for p in sample_images() if p.name == "rain100h_064_rain.jpg")), "bgr")[None]
with create_backend("torch", BackendOptions(device="cpu")) as reference_backend:
    reference = reference_backend.infer(sample)
variants = [("torch", "fp32"), ("torch", "fp16"), ("onnxruntime", "fp32"), ("onnxruntime", "fp16"),
            ("tensorrt", "fp16"), ("tensorrt", "fp32")]
if os.environ.get("SAPNET_GPU_INT8") == "1":
    variants.append(("tensorrt", "int8"))
results = []
for backend, precision in variants:
    options = BackendOptions(device="cuda", precision=precision)
    reason = unavailable_reason(backend, options)
    label = f"{backend} {precision}"
    if reason:
        print(f"{label:32s} skipped: {reason}")
        continue
    with create_backend(backend, options) as runner:
        runner.infer(sample)  # warm-up: engine load, autotuning, allocations
        started = time.perf_counter()
        output = runner.infer(sample)
        ms = (time.perf_counter() - started) * 1e3
        device = runner.info.device
    error = np.abs(output - reference)
    psnr = 10 * np.log10(1 / max(float(np.mean(error**2)), 1e-20))
    ok = error.max() <= 1e-4 if precision == "fp32" else psnr >= 40.0
    results.append({"variant": label, "device": device, "max_abs": float(error.max()), "psnr_db": psnr, "ms": ms, "ok": bool(ok)})
    print(f"{label:32s} {device:28s} max|diff| {error.max():.2e}  PSNR {psnr:6.1f} dB  {ms:7.1f} ms  {'OK' if ok else 'FAIL'}")
(out / "parity.json").write_text(json.dumps(results, indent=2))
sys.exit(0 if results and all(r["ok"] for r in results) else 1)
EOF
[ $? -eq 0 ] || FAILED+=("parity")

echo "== 4. benchmark (GPU variants; PyTorch fp32 on the CPU is the reference)"
"$PYTHON" -m sapnet_ros.bench.cli --only backends --device cuda --sizes 640x480,1280x720 --repeats 5 \
    --quality-size 640x480 --variants torch:fp16,onnxruntime:fp16,onnxruntime:int8,tensorrt:fp32,tensorrt:fp16 \
    --json "$OUT/bench.json" || FAILED+=("benchmark")
echo "gpu_check: results in $OUT/ (parity.json, bench.json, engine sidecars)"
if [ ${#FAILED[@]} -gt 0 ]; then
    echo "gpu_check: FAILED: ${FAILED[*]}"
    exit 1
fi
echo "gpu_check: all steps passed"
