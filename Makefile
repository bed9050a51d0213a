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

.PHONY: setup run test lint clean

$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(PIP_TORCH_FLAGS) '$(TORCH_SPEC)'
	$(BIN)/python -m pip install --quiet -e '.[ros,test,fleet]'
	touch $@

setup: $(STAMP)  ## create .venv and install everything

run: setup  ## live demo: derain_node on the shipped rainy bag, recorded into output/demo_derained
	$(BIN)/python scripts/run_demo.py

lint: setup
	$(BIN)/ruff check sapnet_ros test scripts setup.py
	$(BIN)/ruff format --check sapnet_ros test scripts setup.py
	$(BIN)/mypy sapnet_ros

test: lint  ## lint, type-check and run the test suite
	$(BIN)/python -m pytest

clean:
	rm -rf output build install log .pytest_cache .mypy_cache .ruff_cache
