"""Start derain_node for one camera.

    ros2 launch sapnet_ros derain.launch.py
    ros2 launch sapnet_ros derain.launch.py namespace:=front image:=image_rect_color backend:=tensorrt

The node lives in the camera's namespace: with the defaults it derains
/camera/image_raw (+ /camera/camera_info) into /camera/image_derained.
Without ``ros2 launch`` the same node starts with
``sapnet_ros.node_process.LaunchArguments().command()``, which a test keeps
equal to this file.
"""

from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def derain_node(context: LaunchContext) -> list[Node]:
    """The node; ``backend`` overrides the params file only when given (hence evaluated at launch time)."""
    backend = LaunchConfiguration("backend").perform(context)
    overrides = [{"backend": backend}] if backend else []
    return [
        Node(
            package="sapnet_ros",
            executable="derain_node",
            namespace=LaunchConfiguration("namespace"),
            parameters=[LaunchConfiguration("params_file"), *overrides],
            remappings=[
                ("image", LaunchConfiguration("image")),
                ("camera_info", LaunchConfiguration("camera_info")),
                ("image_derained", LaunchConfiguration("image_derained")),
            ],
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
                description="derain_node parameters (see the shipped config/derain.yaml)",
            ),
            DeclareLaunchArgument(
                "backend", default_value="", description="auto, onnxruntime, torch, tensorrt; empty: the params file's"
            ),
            DeclareLaunchArgument("image", default_value="image_raw", description="input image topic"),
            DeclareLaunchArgument("camera_info", default_value="camera_info", description="input camera_info topic"),
            DeclareLaunchArgument("image_derained", default_value="image_derained", description="output image topic"),
            OpaqueFunction(function=derain_node),
        ]
    )
