"""The package installs the ROS 2 way: ``colcon build`` puts every file where ROS tools look."""

import shutil
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

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
    scripts = ["sapnet-derain", "sapnet-export", "sapnet-convert-weights", "derain_node", "sapnet-replay",
               "sapnet-train-rain-estimator"]  # fmt: skip
    for script in scripts:
        assert (colcon_install / "lib" / "sapnet_ros" / script).is_file(), script


def test_share_holds_manifest_models_and_index(colcon_install: Path) -> None:
    share = colcon_install / "share"
    assert (share / "ament_index" / "resource_index" / "packages" / "sapnet_ros").is_file()
    assert (share / "sapnet_ros" / "package.xml").is_file()
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
