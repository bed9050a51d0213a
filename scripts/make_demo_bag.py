"""Build the shipped demo bag: a short rainy camera sequence with camera_info.

A 320x240 window pans slowly across scikit-image's ``coffee`` photo (a real
photograph, shipped with scikit-image) while seeded, moving rain from
``sapnet_ros.synthesis.rain`` falls in front of it. Written as rosbag2 mcap with
``/camera/image_raw`` (rgb8) and ``/camera/camera_info`` at the same stamps,
the names a camera driver uses, so ``ros2 bag play`` + the launch file's
defaults work together.

    .venv/bin/python scripts/make_demo_bag.py            # -> sapnet_ros/data/demo_rain
"""

import argparse
import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np
from skimage import data

from sapnet_ros import resources
from sapnet_ros.io.bags import BagWriter, camera_info_message, header, image_message
from sapnet_ros.synthesis.rain import RainSynthesizer, styled

WIDTH, HEIGHT = 320, 240
START_NS = 1_700_000_000_000_000_000  # fixed stamps: the bag is reproducible
FRAME_ID = "camera_optical_frame"
STYLE = styled("heavy", speed=18.0)
SEED = 7


def scene_frames(count: int) -> list[np.ndarray]:
    """``count`` uint8 (240, 320, 3) RGB crops panning left to right across the photo."""
    photo = data.coffee()  # (400, 600, 3) RGB
    scale = 270 / photo.shape[0]
    photo = cv2.resize(photo, (round(photo.shape[1] * scale), 270), interpolation=cv2.INTER_AREA)  # (270, 405, 3)
    lefts = np.linspace(0, photo.shape[1] - WIDTH, count).round().astype(int)
    tops = np.linspace(photo.shape[0] - HEIGHT, 0, count).round().astype(int)
    return [np.ascontiguousarray(photo[t : t + HEIGHT, x : x + WIDTH]) for t, x in zip(tops, lefts, strict=True)]


def write_bag(output: Path, count: int, rate_hz: float) -> None:
    """Write the sequence to ``output`` (replaced if it exists, only once the new bag is complete)."""
    partial = Path(tempfile.mkdtemp(dir=output.parent)) / output.name  # the bag names its files after its folder
    rain = RainSynthesizer(STYLE, SEED)
    with BagWriter(partial) as writer:
        for index, clean in enumerate(scene_frames(count)):
            stamp = START_NS + round(index * 1e9 / rate_hz)
            msg_header = header(stamp, FRAME_ID)
            writer.write("/camera/camera_info", camera_info_message(WIDTH, HEIGHT, msg_header))
            writer.write("/camera/image_raw", image_message(rain.apply(clean, index), "rgb8", msg_header))
    shutil.rmtree(output, ignore_errors=True)
    partial.rename(output)
    partial.parent.rmdir()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=resources.demo_bag(), help="default: %(default)s")
    parser.add_argument("--frames", type=int, default=18, help="default: %(default)s")
    parser.add_argument("--rate", type=float, default=3.0, help="frames per second (default: %(default)s)")
    args = parser.parse_args()
    write_bag(args.output, args.frames, args.rate)
    size = sum(f.stat().st_size for f in args.output.iterdir())
    print(f"wrote {args.output}: {args.frames} frames {WIDTH}x{HEIGHT} at {args.rate:g} Hz, {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
