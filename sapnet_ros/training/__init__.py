"""Offline training of SAPNet: paired data, the paper's losses, DDP, checkpoints and the hand-off.

Commands: ``sapnet-train`` (``python -m sapnet_ros.training``), ``sapnet-evaluate``
and ``sapnet-make-pairs``.
"""
