"""Start derain_node for one camera, or for several cameras through one backend.

    ros2 launch sapnet_ros derain.launch.py
    ros2 launch sapnet_ros derain.launch.py namespace:=front image:=image_rect_color backend:=tensorrt
    ros2 launch sapnet_ros derain.launch.py namespace:=/ cameras:=[front,rear,left,right]
    ros2 launch sapnet_ros derain.launch.py model:=sapnet-xs   # 2-4 CPU cores, small Jetsons

``model`` picks the rung of the speed ladder (models/README.md): ``sapnet``
(best; GPUs: Orin AGX/desktop with TensorRT), ``sapnet-s`` (~3x faster,
~0.3 dB less; 8+ core CPUs, Orin NX), ``sapnet-xs`` (~6x faster, ~1 dB less;
2-4 core CPUs, Orin Nano), ``sapnet-xxs`` (~10x faster; live 640x480 on 2 CPU cores).

The node lives in the camera's namespace: with the defaults it derains
/camera/image_raw (+ /camera/camera_info) into /camera/image_derained. With
``cameras`` one node serves each camera under the namespace: /front/image_raw
-> /front/image_derained, /rear/image_raw -> ..., batching their frames.
Overrides and remappings come from ``sapnet_ros.ros.process.LaunchArguments``,
which also starts the same node without ``ros2 launch`` (a test keeps this
file's arguments equal to it).
"""

from pathlib import Path

from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchContext, LaunchDescription
from sapnet_ros.ros.process import LaunchArguments

ARGUMENTS = ("namespace", "params_file", "backend", "model", "image", "camera_info", "image_derained", "cameras")


def derain_node(context: LaunchContext) -> list[Node]:
    """The node; ``backend``, ``model`` and ``cameras`` override the params file only when given."""
    values = {name: LaunchConfiguration(name).perform(context) for name in ARGUMENTS}
    arguments = LaunchArguments(**(values | {"params_file": Path(values["params_file"])}))
    return [
        Node(
            package="sapnet_ros",
            executable="derain_node",
            namespace=arguments.namespace,
            parameters=[str(arguments.params_file), arguments.overrides()],
            remappings=arguments.remappings(),
            output="screen",
            emulate_tty=True,
        )
    ]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription(
        [
            DeclareLaunchArgument("namespace", default_value="camera", description="the camera's namespace"),
            DeclareLaunchArgument(
                "params_file",
                default_value=PathJoinSubstitution([FindPackageShare("sapnet_ros"), "config", "derain.yaml"]),
                description="derain_node parameters (see the shipped config/derain.yaml and derain_av.yaml)",
            ),
            DeclareLaunchArgument(
                "backend", default_value="", description="auto, onnxruntime, torch, tensorrt; empty: the params file's"
            ),
            DeclareLaunchArgument(
                "model",
                default_value="",
                description="speed ladder rung: sapnet (GPUs), sapnet-s (8+ CPU cores, Orin NX), "
                "sapnet-xs (2-4 CPU cores, Orin Nano), sapnet-xxs (2 CPU cores); empty: the params file's",
            ),
            DeclareLaunchArgument("image", default_value="image_raw", description="input image topic"),
            DeclareLaunchArgument("camera_info", default_value="camera_info", description="input camera_info topic"),
            DeclareLaunchArgument("image_derained", default_value="image_derained", description="output image topic"),
            DeclareLaunchArgument(
                "cameras",
                default_value="",
                description="camera namespaces under `namespace`, e.g. [front,rear]; empty: one camera",
            ),
            OpaqueFunction(function=derain_node),
        ]
    )
