"""The install paths (docs/install.md) agree with each other: setup.py extras, requirements/, Makefile, package.xml.

Nothing is installed: the requirement sets are parsed, the Makefile's recipes
are printed with ``make -n``, package.xml is read as rosdep reads it.
"""

import ast
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from sapnet_ros.backends.cuda import CUDA_PYTHON_PIN

ROOT = Path(__file__).resolve().parent.parent
# rosdep keys for the runtime's PyPI requirements; the others must be in requirements/ros.txt.
ROSDEP_KEYS = {
    "numpy": "python3-numpy",
    "opencv-python-headless": "python3-opencv",
    "pyyaml": "python3-yaml",
    "tqdm": "python3-tqdm",
}
needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def setup_lists() -> dict[str, list[Requirement]]:
    """The requirement lists assigned at setup.py's top level (RUNTIME, CPU, GPU, TORCH)."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    lists = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.List) and isinstance(node.targets[0], ast.Name):
            lists[node.targets[0].id] = [Requirement(text) for text in ast.literal_eval(node.value)]
    return lists


def requirements_file(name: str) -> dict[str, Requirement]:
    """A requirements/ file's requirements by canonical name (options such as --extra-index-url skipped)."""
    found = {}
    for line in (ROOT / "requirements" / name).read_text().splitlines():
        text = line.split(" #")[0].strip()
        if text and not text.startswith(("#", "-")):
            requirement = Requirement(text)
            found[canonicalize_name(requirement.name)] = requirement
    return found


def by_name(requirements: list[Requirement]) -> dict[str, Requirement]:
    return {canonicalize_name(requirement.name): requirement for requirement in requirements}


def make_dry_run(*arguments: str) -> str:
    result = subprocess.run(["make", "-n", "-C", str(ROOT), *arguments], capture_output=True, text=True, check=True)
    return result.stdout


def test_the_runtime_needs_no_torch_and_no_onnxruntime_flavour() -> None:
    lists = setup_lists()
    runtime = by_name(lists["RUNTIME"])
    assert not {"torch", "scikit-image", "matplotlib", "brisque", "tensorboard", "onnxruntime"} & set(runtime)
    assert set(by_name(lists["CPU"])) == {"onnxruntime"}
    assert "onnxruntime" not in by_name(lists["GPU"])  # the two wheels install the same module


def test_the_pinned_gpu_set_is_inside_the_gpu_extra_and_on_cuda_12() -> None:
    extra = by_name(setup_lists()["GPU"])
    pinned = requirements_file("gpu.txt")
    assert set(pinned) == set(extra)
    for name, requirement in pinned.items():
        (version,) = [spec.version for spec in requirement.specifier if spec.operator == "=="]
        assert extra[name].specifier.contains(version), f"{name}=={version} outside the extra's {extra[name]}"
    assert extra["cuda-python"] == Requirement(CUDA_PYTHON_PIN)  # the hint the backend prints is what gets installed
    assert not extra["cuda-python"].specifier.contains("13.0.0")  # 13 needs driver >= 580
    assert not extra["tensorrt-cu12"].specifier.contains("11.0.0")  # 11 removed weak typing


def test_jetson_takes_tensorrt_ros_and_torch_from_the_system() -> None:
    jetson = requirements_file("jetson.txt")
    assert not {"torch", "tensorrt", "tensorrt-cu12", "onnxruntime-gpu"} & set(jetson)
    assert not [name for name in jetson if name.startswith("ros-")]
    assert jetson["cuda-python"] == Requirement(CUDA_PYTHON_PIN)
    runtime = set(by_name(setup_lists()["RUNTIME"])) - {"setuptools"}
    assert runtime <= set(jetson)


def test_package_xml_has_rosdep_keys_and_requirements_ros_the_rest() -> None:
    package = ET.parse(ROOT / "package.xml").getroot()
    keys = {element.text for element in package if element.tag in ("depend", "exec_depend")}
    assert {"rclpy", "sensor_msgs", "std_msgs", "diagnostic_msgs", "lifecycle_msgs", "rcl_interfaces"} <= keys
    ros = requirements_file("ros.txt")
    for name in (set(by_name(setup_lists()["RUNTIME"])) - {"setuptools"}) | {"onnxruntime"}:
        assert ROSDEP_KEYS.get(name) in keys or name in ros, f"{name}: neither a rosdep key nor in requirements/ros.txt"


@needs_make
def test_make_setup_installs_what_make_test_and_make_run_need() -> None:
    recipe = make_dry_run("-W", "setup.py", "setup", "ARCH=x86_64")
    extras = set(re.search(r"-e '\.\[([a-z,]+)\]'", recipe)[1].split(","))  # type: ignore[index]
    assert {"cpu", "torch", "train", "eval", "ros", "test"} <= extras and "gpu" not in extras
    assert "setup-jetson" in make_dry_run("-B", "setup", "ARCH=aarch64")


@needs_make
def test_make_setup_gpu_and_setup_jetson() -> None:
    gpu = make_dry_run("setup-gpu")
    assert "--index-url https://download.pytorch.org/whl/cu12" in gpu and "-r requirements/gpu.txt" in gpu
    extras = re.search(r"-e '\.\[([a-z,]+)\]'", gpu)[1].split(",")  # type: ignore[index]
    assert "gpu" in extras and "cpu" not in extras
    jetson = make_dry_run("setup-jetson")
    assert "-m venv --system-site-packages" in jetson and "-r requirements/jetson.txt" in jetson
    assert "--no-deps -e ." in jetson and "torch" not in jetson.replace("import tensorrt", "")
