"""ROS 2: the derain node (thin), its cameras, parameters, diagnostics, worker and stats; bag replay."""
