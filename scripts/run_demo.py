"""The live demo behind ``make run``: derain_node on the shipped rainy camera bag.

1. start derain_node exactly as launch/derain.launch.py does (console script,
   config/derain.yaml, /camera namespace, image:=image_raw) with
   ``model:=sapnet-xs``, the speed ladder's fastest rung, so that a 2-core CPU
   keeps up with the camera's 3 frames/s (``DEMO_MODEL=sapnet`` for the full model);
2. replay sapnet_ros/data/demo_rain into it at its recorded rate with
   sapnet-replay, recording /camera/image_derained into output/demo_derained;
3. stop the node as Ctrl-C would, print the summary, and save the last frame
   before and after as output/demo_before_after.png.

The previous run's recording and picture are removed first, so an interrupted
run (Ctrl-C: one line, exit code 130) leaves none that looks current.

With a ROS 2 install the same runs as ``ros2 launch sapnet_ros derain.launch.py``
and ``ros2 bag play sapnet_ros/data/demo_rain``.
"""

import os
import shutil
import sys
from collections.abc import Collection
from pathlib import Path

import cv2
import numpy as np

from sapnet_ros import resources
from sapnet_ros.commands import command
from sapnet_ros.frames import to_bgr8
from sapnet_ros.io.bags import connections_for, open_bag, stamp_ns
from sapnet_ros.io.messages import image_to_array
from sapnet_ros.ros.process import LaunchArguments, NodeProcess
from sapnet_ros.ros.replay import replay

OUTPUT = Path(__file__).resolve().parent.parent / "output"


def frames_by_stamp(bag: Path, topic: str, stamps: Collection[int] | None = None) -> dict[int, np.ndarray]:
    """Header stamp -> uint8 BGR of every frame on ``topic``, or of those stamped ``stamps`` (decoding only those)."""
    with open_bag(bag) as reader:
        connections = connections_for(reader, topic)
        frames = {}
        for connection, _, raw in reader.messages(connections=connections):
            msg = reader.deserialize(raw, connection.msgtype)
            stamp = stamp_ns(msg)
            if stamps is None or stamp in stamps:
                decoded = image_to_array(msg)
                frames[stamp] = to_bgr8(decoded.array, decoded.order)
    return frames


@command("make run")
def main() -> int:
    recording, figure = OUTPUT / "demo_derained", OUTPUT / "demo_before_after.png"
    shutil.rmtree(recording, ignore_errors=True)  # this demo's own previous results: an interrupted
    figure.unlink(missing_ok=True)  # run must not leave the last run's picture looking current
    OUTPUT.mkdir(exist_ok=True)
    with NodeProcess(LaunchArguments(model=os.environ.get("DEMO_MODEL", "sapnet-xs"))) as node:
        summary = replay(resources.demo_bag(), recording)
        code = node.stop()
    print(summary.report())
    print(f"derain_node stopped cleanly (exit code {code})" if code == 0 else f"derain_node exited with {code}")
    derained = frames_by_stamp(recording, summary.derained)
    if derained:
        stamp = max(derained)
        rainy = frames_by_stamp(resources.demo_bag(), summary.source, {stamp})[stamp]
        cv2.imwrite(str(figure), np.hstack([rainy, np.full((rainy.shape[0], 4, 3), 255, np.uint8), derained[stamp]]))
        print(f"last frame, rainy | derained: {figure}")
    return 0 if summary.frames_out > 0 and code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
