"""Rainy images made on purpose: the project's rain synthesizer and the clean photos it rains on."""
