"""derain_node started as launch/derain.launch.py starts it: same command, real process, clean stop."""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import time
from functools import partial
from pathlib import Path
from typing import Any

from conftest import tiny_rgb
from ros_graph import Graph, camera_info_msg, image_msg, wait_for
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Float32

from sapnet_ros import resources
from sapnet_ros.io.messages import image_to_array
from sapnet_ros.ros.process import EXECUTABLE, LaunchArguments, NodeProcess, find_executable

LAUNCH = Path(__file__).parents[2] / "launch" / "derain.launch.py"


def _call_name(call: ast.Call) -> str:
    return call.func.id if isinstance(call.func, ast.Name) else ""


def _evaluate(expr: ast.expr) -> Any:
    """The value of a launch-file default: a constant, or the shipped params file's share path."""
    if isinstance(expr, ast.Constant):
        return expr.value
    if isinstance(expr, ast.Tuple | ast.List):
        return [_evaluate(e) for e in expr.elts]
    if isinstance(expr, ast.Call) and _call_name(expr) == "FindPackageShare":
        return f"<share of {_evaluate(expr.args[0])}>"
    if isinstance(expr, ast.Call) and _call_name(expr) == "PathJoinSubstitution":
        return "/".join(_evaluate(expr.args[0]))
    raise AssertionError(f"launch file expression not understood: {ast.unparse(expr)}")


def read_launch_file() -> tuple[dict[str, Any], list[str], dict[str, str]]:
    """(launch arguments -> defaults, the ARGUMENTS it reads, Node keyword -> source) of the launch file."""
    tree = ast.parse(LAUNCH.read_text())
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    arguments: dict[str, Any] = {}
    for call in (c for c in calls if _call_name(c) == "DeclareLaunchArgument"):
        default = next(k.value for k in call.keywords if k.arg == "default_value")
        arguments[_evaluate(call.args[0])] = _evaluate(default)
    (read,) = [n.value for n in tree.body if isinstance(n, ast.Assign) and ast.unparse(n.targets[0]) == "ARGUMENTS"]
    (node,) = [c for c in calls if _call_name(c) == "Node"]
    return arguments, _evaluate(read), {k.arg: ast.unparse(k.value) for k in node.keywords if k.arg}


def test_launch_file_and_node_command_start_the_same_node() -> None:
    arguments, read, node = read_launch_file()
    defaults = LaunchArguments()
    assert node["package"] == "'sapnet_ros'" and node["executable"] == f"'{EXECUTABLE}'"
    assert list(arguments) == read == list(vars(defaults))  # same arguments, same order, all passed on
    assert arguments["params_file"] == "<share of sapnet_ros>/config/derain.yaml"
    assert defaults.params_file == resources.config_file() and defaults.params_file.parts[-2:] == (
        "config",
        "derain.yaml",
    )
    assert {k: v for k, v in arguments.items() if k != "params_file"} == {
        k: v for k, v in vars(defaults).items() if k != "params_file"
    }
    # the launch file takes overrides and remappings from LaunchArguments, as command() does
    assert node["parameters"] == "[str(arguments.params_file), arguments.overrides()]"
    assert node["remappings"] == "arguments.remappings()" and node["namespace"] == "arguments.namespace"
    assert defaults.overrides() == {}
    assert defaults.command() == [
        EXECUTABLE, "--ros-args", "-r", "__ns:=/camera", "--params-file", str(defaults.params_file),
        "-r", "image:=image_raw", "-r", "camera_info:=camera_info", "-r", "image_derained:=image_derained",
    ]  # fmt: skip
    assert LaunchArguments(backend="torch").command()[5:8] == [str(defaults.params_file), "-p", "backend:=torch"]


def test_a_camera_list_gives_one_node_per_camera_topics() -> None:
    arguments = LaunchArguments(namespace="/", cameras="[front, rear]", image="image_rect")
    assert arguments.camera_names() == LaunchArguments(cameras="front,rear").camera_names() == ["front", "rear"]
    assert arguments.overrides() == {"cameras": ["front", "rear"]}
    assert arguments.remappings()[:3] == [
        ("front/image", "front/image_rect"),
        ("front/camera_info", "front/camera_info"),
        ("front/image_derained", "front/image_derained"),
    ]
    assert arguments.remappings()[3] == ("rear/image", "rear/image_rect")
    command = arguments.command()
    assert "__ns:=/" not in " ".join(command) and command[4:6] == ["-p", "cameras:=[front,rear]"]


def test_bad_parameter_stops_the_node_with_the_reason() -> None:
    command = LaunchArguments(namespace="bad", backend="nope").command(find_executable())
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "backend 'nope' is not one of: auto, " in done.stderr


def test_misspelt_parameters_stop_the_node_with_the_nearest_name(tmp_path: Path) -> None:
    params = tmp_path / "typos.yaml"
    params.write_text("/**:\n  ros__parameters:\n    backnd: torch\n    rain_gate.enable: true\n")
    from_file = LaunchArguments(namespace="typo", params_file=params).command(find_executable())
    from_flag = [*LaunchArguments(namespace="typo").command(find_executable()), "-p", "max_sdie:=5"]
    for command, expected in (
        (from_file, "unknown parameters 'backnd' (did you mean 'backend'?), 'rain_gate.enable' (did you mean "
                    "'rain_gate.enabled'?)"),
        (from_flag, "unknown parameter 'max_sdie' (did you mean 'max_side'?)"),
    ):  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert done.returncode == 2, done.stderr
        assert done.stderr.splitlines() == [f"derain_node: error: {expected}; see config/derain.yaml"], done.stderr


def test_launched_node_derains_and_stops_cleanly_on_sigint(tmp_path: Path) -> None:
    namespace = f"proc{os.getpid()}"
    log = (tmp_path / "node.log").open("w")
    graph = Graph()
    try:
        images = graph.publisher(Image, f"/{namespace}/image_raw")
        infos = graph.publisher(CameraInfo, f"/{namespace}/camera_info")
        derained = graph.inbox(Image, f"/{namespace}/image_derained")
        derained_infos = graph.inbox(CameraInfo, f"/{namespace}/image_derained/camera_info")
        with NodeProcess(LaunchArguments(namespace=namespace), log=log) as node:
            subscribed = (images.get_subscription_count, infos.get_subscription_count)
            assert wait_for(lambda: all(count() > 0 for count in subscribed) or node.returncode is not None)
            rgb = tiny_rgb(24, 32)
            info, image = camera_info_msg(7, 32, 24), image_msg(rgb, "rgb8", 7)
            out = derained.with_stamp(7, resend=lambda: (infos.publish(info), images.publish(image)))
            assert derained_infos.with_stamp(7).width == 32
            assert node.stop() == 0
    finally:
        graph.close()
        log.close()
    assert image_to_array(out).array.shape == (24, 32, 3)
    text = (tmp_path / "node.log").read_text()
    assert f"/{namespace}/image_raw [auto, depth 1] -> /{namespace}/image_derained" in text, text
    assert "Traceback" not in text


def test_launched_av_profile_with_the_rain_gate_serves_a_camera_list(tmp_path: Path) -> None:
    namespace = f"cars{os.getpid()}"
    cameras = ["front", "rear"]
    profile = resources.config_file("derain_av.yaml").read_text()
    gated = tmp_path / "derain_av_gated.yaml"
    gated.write_text(profile.replace("rain_gate.enabled: false", "rain_gate.enabled: true"))
    arguments = LaunchArguments(namespace=namespace, params_file=gated, cameras="[front, rear]")
    log = (tmp_path / "node.log").open("w")
    graph = Graph()
    try:
        images = {c: graph.publisher(Image, f"/{namespace}/{c}/image_raw") for c in cameras}
        derained = {c: graph.inbox(Image, f"/{namespace}/{c}/image_derained") for c in cameras}
        levels = {c: graph.inbox(Float32, f"/{namespace}/{c}/rain_level") for c in cameras}
        with NodeProcess(arguments, log=log) as node:
            assert wait_for(lambda: all(p.get_subscription_count() > 0 for p in images.values()))
            for index, camera in enumerate(cameras):
                rgb = tiny_rgb(24, 32, seed=index)
                image = image_msg(rgb, "rgb8", 9, frame_id=camera)
                assert (
                    derained[camera].with_stamp(9, resend=partial(images[camera].publish, image)).header.frame_id
                    == camera
                )
                assert wait_for(lambda camera=camera: len(levels[camera].snapshot()) >= 1)
            assert node.stop() == 0
    finally:
        graph.close()
        log.close()
    text = (tmp_path / "node.log").read_text()
    assert "rain gate on (open 0.6, close 0.3), batches of up to 4" in text, text
    assert f"/{namespace}/rear/image_raw [auto, depth 1] -> /{namespace}/rear/image_derained" in text
    assert "Traceback" not in text


def test_ctrl_c_while_messages_pour_in_stops_cleanly_every_time(tmp_path: Path) -> None:
    """SIGINT lands while the node's main thread is taking messages: exit 0, no traceback (was: 1 in ~6)."""
    namespace = f"flood{os.getpid()}"
    graph = Graph()
    try:
        images = graph.publisher(Image, f"/{namespace}/image_raw", depth=1)
        infos = graph.publisher(CameraInfo, f"/{namespace}/camera_info", depth=1)
        image, info = image_msg(tiny_rgb(24, 32), "rgb8", 1), camera_info_msg(1, 32, 24)
        for attempt in range(4):
            log_path = tmp_path / f"node{attempt}.log"
            with log_path.open("w") as log, NodeProcess(LaunchArguments(namespace=namespace), log=log) as node:
                assert wait_for(lambda: infos.get_subscription_count() > 0 or node.returncode is not None)
                for _ in range(400):  # ~1 s of messages at the node's callbacks
                    infos.publish(info)
                    images.publish(image)
                    time.sleep(0.002)
                os.kill(node.pid, signal.SIGINT)
                for _ in range(200):  # and more while it stops
                    infos.publish(info)
                    time.sleep(0.002)
                assert wait_for(lambda: node.returncode is not None)  # one Ctrl-C is enough
                assert node.returncode == 0, log_path.read_text()
            assert "Traceback" not in log_path.read_text(), log_path.read_text()
    finally:
        graph.close()
