#!/usr/bin/env bash
# Prepared GPU check for sapnet_ros, under 5 minutes on an NVIDIA GPU (docs/gpu.md):
#   1. what is installed (GPU, driver, PyTorch CUDA, ONNX Runtime providers, TensorRT, cuda-python);
#   2. every GPU variant (PyTorch, ONNX Runtime, TensorRT x fp32/fp16/int8) on its own, in its own process:
#      parity with the stored CPU output of the official code, ms/frame and fps at 640x480 and 1280x720,
#      first-run time (TensorRT engine build); a variant that cannot run here is listed with the reason.
# Writes OUTPUT_DIR/gpu_check.json and prints one table. Exit code: 0 all tested variants passed,
# 1 one failed, 2 nothing could be tested.
#
# Usage: scripts/gpu_check.sh [--install] [OUTPUT_DIR]
#   --install   first make the pinned GPU venv (make setup-gpu, needs the network) if .venv-gpu is missing
#   PYTHON=...  the interpreter to use; default: the first of .venv-gpu, .venv, python3 that sees the most GPU
#               stack. A system Python with CUDA PyTorch (plus numpy and safetensors) is enough for PyTorch.
set -uo pipefail  # no -e: every step runs, failures are reported
cd "$(dirname "$0")/.."
INSTALL=0
if [ "${1:-}" = "--install" ]; then INSTALL=1; shift; fi
OUT=${1:-gpu_check}
mkdir -p "$OUT"

if [ "$INSTALL" = 1 ] && [ ! -x .venv-gpu/bin/python ]; then
    if python3 -m pip download --no-deps --quiet --dest "$OUT/.probe" cuda-python==12.9.4 >/dev/null 2>&1; then
        echo "== installing the pinned GPU set into .venv-gpu (make setup-gpu)"
        make setup-gpu || echo "gpu_check: make setup-gpu failed; checking what is installed"
    else
        echo "gpu_check: no network to install from; checking what is installed"
    fi
    rm -rf "$OUT/.probe"
fi

# The GPU stack an interpreter can use: one point each for PyTorch CUDA, ONNX Runtime's CUDA provider, TensorRT.
score() {
    "$1" - 2>/dev/null <<'EOF'
import importlib.util
points = 0
try:
    import torch
    points += torch.cuda.is_available()
except ImportError:
    pass
try:
    import onnxruntime
    points += "CUDAExecutionProvider" in onnxruntime.get_available_providers()
except ImportError:
    pass
points += importlib.util.find_spec("tensorrt") is not None
print(points)
EOF
}
if [ -z "${PYTHON:-}" ]; then
    best=-1
    for candidate in .venv-gpu/bin/python .venv/bin/python python3; do
        command -v "$candidate" >/dev/null 2>&1 || continue
        points=$(score "$candidate")
        if [ -n "$points" ] && [ "$points" -gt "$best" ]; then best=$points; PYTHON=$candidate; fi
    done
fi
if [ -z "${PYTHON:-}" ]; then
    echo "gpu_check: no Python with numpy found"; exit 2
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # the checkout, installed or not

# ONNX Runtime's TensorRT provider loads libnvinfer by name: point it at the TensorRT wheel's libraries.
TRT_LIBS=$("$PYTHON" -c "import os, tensorrt_libs; print(os.path.dirname(tensorrt_libs.__file__))" 2>/dev/null)
if [ -n "$TRT_LIBS" ]; then export LD_LIBRARY_PATH="$TRT_LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; fi

echo "== 1. environment ($PYTHON)"
nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv,noheader 2>/dev/null \
    || echo "nvidia-smi: not found or no GPU"
"$PYTHON" - <<'EOF'
import importlib.util
for name in ("torch", "onnxruntime", "tensorrt", "cuda"):
    if importlib.util.find_spec(name) is None:
        print(f"{name}: not installed")
        continue
    try:
        module = importlib.import_module(name)
    except Exception as err:  # a broken install is reported, not fatal
        print(f"{name}: does not import ({err})")
        continue
    extra = ""
    if name == "torch":
        extra = f" CUDA {module.version.cuda} available={module.cuda.is_available()}"
    elif name == "onnxruntime":
        extra = f" {module.get_available_providers()}"
    print(f"{name} {getattr(module, '__version__', '')}{extra}")
EOF

echo "== 2. variants (each on its own; engines are cached, so a second run shows load times)"
"$PYTHON" -m sapnet_ros.bench.gpu_check --json "$OUT/gpu_check.json"
status=$?
echo "gpu_check: report in $OUT/gpu_check.json"
exit $status
