"""Tests of sapnet_ros.training (a package, so that its conftest and helpers never shadow test/conftest.py)."""
