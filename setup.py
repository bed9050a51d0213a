"""ament_python package definition: works with ``colcon build`` and ``pip install -e .``."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "sapnet_ros"

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
    install_requires=[
        "setuptools",
        "numpy>=1.24",
        "torch>=2.4",
        "onnx>=1.16",
        "onnxscript>=0.2",
        "onnxruntime>=1.18",
        "safetensors>=0.4",
        "opencv-python-headless>=4.8,<5",
        "pyyaml>=6",
        "tqdm>=4.60",
        "matplotlib>=3.7",
        "scikit-image>=0.22",
        "brisque>=0.2",
    ],
    extras_require={
        # ROS 2 Kilted from PyPI wheels, for virtualenvs; a ROS install provides these itself.
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
            "tensorboard>=2.14",
        ],
        # TensorBoard logging for sapnet-train (CSV logs are always written).
        "train": ["tensorboard>=2.14"],
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
