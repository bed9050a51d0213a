"""ament_python package definition: works with ``colcon build`` and ``pip install -e .``."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "sapnet_ros"
RUNTIME = [
    "setuptools",
    "numpy>=1.24",
    "onnx>=1.16",
    "opencv-python-headless>=4.8,<5",
    "pyyaml>=6",
    "tqdm>=4.60",
]
CPU = ["onnxruntime>=1.18"]
# CUDA 12 drivers (JetPack 6, desktop drivers 525-579): TensorRT 10 (11 dropped the weak-typing API and CUDA 12
# wheels resolve to it unpinned), cuda-python 12 (13 needs driver >= 580). requirements/gpu.txt pins one working set.
GPU = ["onnxruntime-gpu>=1.20", "tensorrt-cu12>=10.3,<11", "cuda-python>=12.6,<13"]
TORCH = ["torch>=2.4", "safetensors>=0.4", "onnxscript>=0.2"]

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*"]),
    package_data={PACKAGE: ["data/*.jpg", "data/demo_rain/*"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml")),
        (
            f"share/{PACKAGE}/models",
            glob("models/*.safetensors") + glob("models/*.onnx") + glob("models/*.txt") + glob("models/*.md"),
        ),
    ],
    python_requires=">=3.10",
    # The runtime (derain_node, sapnet-derain) needs these and one inference runtime: the extra "cpu"
    # (onnxruntime) or "gpu" (onnxruntime-gpu, TensorRT, cuda-python); the two onnxruntime wheels
    # install the same module and must not be mixed, so neither is required here. docs/install.md.
    install_requires=RUNTIME,
    extras_require={
        "cpu": CPU,
        "gpu": GPU,
        # PyTorch: the torch backend, ONNX export, weights conversion.
        "torch": TORCH,
        # sapnet-train, sapnet-train-rain-estimator, sapnet-quantize (calibration photos): TensorBoard, scikit-image.
        "train": [*TORCH, "tensorboard>=2.14", "scikit-image>=0.22"],
        # sapnet-eval-bag, sapnet-evaluate, sapnet-bench: metrics in PyTorch, photos, plots, BRISQUE.
        "eval": [*TORCH, "scikit-image>=0.22", "matplotlib>=3.7", "brisque>=0.2"],
        # ROS 2 Kilted from PyPI wheels (x86_64 only), for virtualenvs; a ROS install provides these itself.
        "ros": [
            "ros-rclpy",
            "ros-sensor-msgs",
            "ros-std-msgs",
            "ros-diagnostic-msgs",
            "ros-lifecycle-msgs",
            "ros-rmw-fastrtps-cpp",
            "rosbags>=0.10",
        ],
        # Ray, to spread sapnet-eval-bag over a cluster (--ray ADDRESS).
        "fleet": ["ray>=2.9"],
        "test": [
            "pytest>=8",
            "ruff>=0.6",
            "mypy>=1.10",
            "rosbags-image>=0.9",
            "colcon-core",
            "colcon-ros",
            "colcon-python-setup-py",
            "types-tqdm",
            "types-PyYAML",
            "packaging",
        ],
    },
    zip_safe=True,
    maintainer="sapnet_ros developers",
    maintainer_email="sapnet-ros@example.org",
    description="Real-time rain removal for ROS 2 camera images with SAPNet (WACV 2022).",
    license="MIT",
    entry_points={
        "console_scripts": [
            "sapnet-derain = sapnet_ros.cli.derain:main",
            "sapnet-export = sapnet_ros.model.export:main",
            "sapnet-convert-weights = sapnet_ros.model.weights:main",
            "derain_node = sapnet_ros.ros.node:main",
            "sapnet-replay = sapnet_ros.ros.replay:main",
            "sapnet-eval-bag = sapnet_ros.evaluation.cli:main",
            "sapnet-train = sapnet_ros.training.train:main",
            "sapnet-distill = sapnet_ros.training.distill:main",
            "sapnet-evaluate = sapnet_ros.evaluation.paired:main",
            "sapnet-make-pairs = sapnet_ros.training.pairs:main",
            "sapnet-quantize = sapnet_ros.model.quantize:main",
            "sapnet-build-engine = sapnet_ros.backends.engine_build:main",
            "sapnet-bench = sapnet_ros.bench.cli:main",
            "sapnet-train-rain-estimator = sapnet_ros.gate.training:main",
        ],
    },
)
