"""Run by torchrun from test_train.py: train this rank's share, then save its final weights as rank<RANK>.pt."""

import os
import sys
from pathlib import Path

import torch

from sapnet_ros.training.config import load_config, read_yaml
from sapnet_ros.training.train import train

if __name__ == "__main__":
    config_path, output = Path(sys.argv[1]), Path(sys.argv[2])
    result = train(load_config(read_yaml(config_path)))
    torch.save(result.model.state_dict(), output / f"rank{os.environ['RANK']}.pt")
