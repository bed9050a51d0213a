# sapnet_ros developer commands. `make run` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# CPU build of PyTorch; elsewhere add TORCH_INDEX=https://download.pytorch.org/whl/cpu to avoid the CUDA wheels.
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
PIP_TORCH_FLAGS := $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX) --extra-index-url https://pypi.org/simple,)

# Keep DDS traffic on this machine and away from other ROS graphs.
export ROS_AUTOMATIC_DISCOVERY_RANGE ?= LOCALHOST
export ROS_DOMAIN_ID ?= 57
export RMW_IMPLEMENTATION ?= rmw_fastrtps_cpp

STAMP := $(VENV)/.installed-stamp
# Everything `make test` and `make run` need: the CPU runtime, PyTorch, training/evaluation extras, ROS 2 wheels.
EXTRAS ?= cpu,torch,train,eval,ros,test,fleet

# Desktop NVIDIA GPU (docs/install.md): its own venv, CUDA PyTorch from PyTorch's index, the pinned GPU set.
GPU_VENV ?= .venv-gpu
TORCH_GPU_INDEX ?= https://download.pytorch.org/whl/cu128
TORCH_GPU_SPEC ?= torch==2.13.0
GPU_EXTRAS ?= gpu,torch,eval
# Jetson / JetPack 6: a venv over the system's TensorRT, ROS 2 and (optionally) NVIDIA's Jetson PyTorch.
JETSON_PYTHON ?= /usr/bin/python3
JETSON_VENV ?= .venv-jetson

.PHONY: setup setup-gpu setup-jetson gpu-check run test lint clean bench

ARCH ?= $(shell uname -m)

ifeq ($(ARCH),aarch64)
$(STAMP):
	@echo "make setup: the PyPI ROS 2 wheels (ros-rclpy, ...) are x86_64 only and PyPI torch is no Jetson CUDA build;"
	@echo "on a Jetson run 'make setup-jetson' (docs/install.md)"
	@exit 1
else
$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(PIP_TORCH_FLAGS) '$(TORCH_SPEC)'
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]'
	touch $@
endif

setup: $(STAMP)  ## create .venv and install everything

setup-gpu:  ## desktop GPU venv (.venv-gpu): CUDA PyTorch, onnxruntime-gpu, TensorRT 10 (CUDA 12), cuda-python 12
	$(PYTHON) -m venv $(GPU_VENV)
	$(GPU_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(GPU_VENV)/bin/python -m pip install --quiet --index-url $(TORCH_GPU_INDEX) '$(TORCH_GPU_SPEC)'
	$(GPU_VENV)/bin/python -m pip install --quiet -r requirements/gpu.txt
	$(GPU_VENV)/bin/python -m pip install --quiet -e '.[$(GPU_EXTRAS)]'
	$(GPU_VENV)/bin/python -c "import tensorrt, onnxruntime; print('TensorRT', tensorrt.__version__, onnxruntime.get_available_providers())"

setup-jetson:  ## Jetson (JetPack 6): venv with system site packages (TensorRT, ROS 2), no PyPI torch or ROS
	$(JETSON_PYTHON) -m venv --system-site-packages $(JETSON_VENV)
	$(JETSON_VENV)/bin/python -m pip install --quiet -r requirements/jetson.txt
	$(JETSON_VENV)/bin/python -m pip install --quiet --no-deps -e .
	$(JETSON_VENV)/bin/python -c "import tensorrt; print('TensorRT', tensorrt.__version__)" \
		|| (echo "no system TensorRT: sudo apt install nvidia-jetpack (python3-libnvinfer)"; exit 1)

gpu-check:  ## scripts/gpu_check.sh: parity and timings of every GPU variant, JSON + table in gpu_check/
	scripts/gpu_check.sh

run: setup  ## live demo: derain_node on the shipped rainy bag, recorded into output/demo_derained
	$(BIN)/python scripts/run_demo.py

lint: setup
	$(BIN)/ruff check sapnet_ros test scripts setup.py
	$(BIN)/ruff format --check sapnet_ros test scripts setup.py
	$(BIN)/mypy sapnet_ros

test: lint  ## lint, type-check and run the test suite
	$(BIN)/python -m pytest

bench: setup  ## sapnet-bench: every backend/precision, speed and quality, figures in bench.json
	$(BIN)/sapnet-bench --json bench.json

clean:
	rm -rf output build install log .pytest_cache .mypy_cache .ruff_cache
