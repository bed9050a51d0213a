"""sapnet_ros: real-time rain removal for ROS 2 camera images with SAPNet."""

__version__ = "0.1.0"
