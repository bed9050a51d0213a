"""The package installs the ROS 2 way: ``colcon build`` puts every file where ROS tools look."""

import os
import shutil
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def colcon_install(tmp_path_factory: pytest.TempPathFactory) -> Path:
    colcon = shutil.which("colcon") or str(Path(sys.executable).parent / "colcon")
    workspace = tmp_path_factory.mktemp("ws")
    subprocess.run(
        [colcon, "--log-base", str(workspace / "log"), "build", "--base-paths", str(ROOT),
         "--build-base", str(workspace / "build"), "--install-base", str(workspace / "install")],
        check=True, cwd=workspace, capture_output=True,
    )  # fmt: skip
    return workspace / "install" / "sapnet_ros"


def test_executables_land_in_lib_package(colcon_install: Path) -> None:
    scripts = ["sapnet-derain", "sapnet-export", "sapnet-convert-weights", "derain_node", "sapnet-replay"]
    scripts += ["sapnet-train", "sapnet-evaluate", "sapnet-make-pairs", "sapnet-train-rain-estimator"]
    for script in scripts:
        assert (colcon_install / "lib" / "sapnet_ros" / script).is_file(), script


def test_share_holds_manifest_models_and_index(colcon_install: Path) -> None:
    share = colcon_install / "share"
    assert (share / "ament_index" / "resource_index" / "packages" / "sapnet_ros").is_file()
    assert (share / "sapnet_ros" / "package.xml").is_file()
    assert (share / "sapnet_ros" / "config" / "train.yaml").is_file()
    for name in ["sapnet_rain100h.safetensors", "sapnet.onnx", "LICENSE-SAPNet-MIT.txt", "rain_estimator.onnx"]:
        assert (share / "sapnet_ros" / "models" / name).is_file(), name
    assert (share / "sapnet_ros" / "launch" / "derain.launch.py").is_file()
    assert (share / "sapnet_ros" / "config" / "derain.yaml").is_file()
    assert (share / "sapnet_ros" / "config" / "derain_av.yaml").is_file()


def test_demo_bag_is_installed_with_the_package(colcon_install: Path) -> None:
    (package,) = colcon_install.glob("lib/python3*/site-packages/sapnet_ros")
    assert {p.name for p in (package / "data" / "demo_rain").iterdir()} == {"demo_rain.mcap", "metadata.yaml"}


def test_manifest_is_format_3_with_ros_dependencies() -> None:
    manifest = ElementTree.parse(ROOT / "package.xml").getroot()
    assert manifest.get("format") == "3"
    depends = {element.text for element in manifest.iter() if element.tag.endswith("depend")}
    assert {"rclpy", "sensor_msgs", "std_msgs", "diagnostic_msgs"} <= depends
    assert manifest.findtext("export/build_type") == "ament_python"


def test_installed_tools_find_their_models_through_the_ament_prefix(colcon_install: Path, tmp_path: Path) -> None:
    (site_packages,) = colcon_install.glob("lib/python3*/site-packages")
    env = {**os.environ, "PYTHONPATH": str(site_packages), "AMENT_PREFIX_PATH": str(colcon_install)}
    where = subprocess.run(
        [sys.executable, "-c", "from sapnet_ros import resources as r; print(r.__file__); print(r.default_weights())"],
        env=env, check=True, capture_output=True, text=True, cwd=tmp_path,
    ).stdout.split()  # fmt: skip
    assert where == [
        str(site_packages / "sapnet_ros" / "resources.py"),
        str(colcon_install / "share" / "sapnet_ros" / "models" / "sapnet_rain100h.safetensors"),
    ]
    assert cv2.imwrite(str(tmp_path / "tiny.png"), np.zeros((12, 16, 3), np.uint8))
    subprocess.run(
        [str(colcon_install / "lib" / "sapnet_ros" / "sapnet-derain"), str(tmp_path / "tiny.png"),
         "--output", str(tmp_path / "out")],
        env=env, check=True, capture_output=True, cwd=tmp_path,
    )  # fmt: skip
    assert cv2.imread(str(tmp_path / "out" / "tiny.png")).shape == (12, 16, 3)
