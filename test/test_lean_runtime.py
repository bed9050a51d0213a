"""The runtime (``derain_node``, ``sapnet-derain`` on ONNX Runtime) works without the optional packages.

A lean install (``pip install 'sapnet_ros[cpu]'``, docs/install.md) has no
PyTorch, scikit-image, matplotlib, brisque or TensorBoard. A child process
hides them behind an import hook, imports the node and the CLI, and derains a
small frame with ONNX Runtime, so an import of any of them on that path fails.
"""

import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
from conftest import tiny_rgb

HIDDEN = ("torch", "torchvision", "skimage", "matplotlib", "brisque", "tensorboard", "ray", "onnxscript", "safetensors")

CHILD = textwrap.dedent(
    """
    import importlib.abc
    import sys

    HIDDEN = set(sys.argv[1].split(","))


    class Hide(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in HIDDEN:
                raise ImportError(f"{name} is hidden: not part of the lean runtime")
            return None


    sys.meta_path.insert(0, Hide())
    import sapnet_ros.cli.derain
    import sapnet_ros.ros.node  # noqa: F401

    status = sapnet_ros.cli.derain.main(
        [sys.argv[2], "--output", sys.argv[3], "--backend", "onnxruntime", "--device", "auto"]
    )
    loaded = sorted(name for name in sys.modules if name.partition(".")[0] in HIDDEN)
    print("LOADED", loaded)
    sys.exit(status)
    """
)


def test_node_and_cli_run_without_torch_skimage_matplotlib_brisque(tmp_path: Path) -> None:
    frame = tmp_path / "rainy.png"
    cv2.imwrite(str(frame), tiny_rgb(48, 64, seed=3))
    output = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-c", CHILD, ",".join(HIDDEN), str(frame), str(output)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "LOADED []" in result.stdout
    derained = cv2.imread(str(output / "rainy.png"))
    assert derained is not None and derained.shape == (48, 64, 3)
    assert np.abs(derained.astype(int) - cv2.imread(str(frame)).astype(int)).mean() > 0.1  # it did derain
