"""``python -m sapnet_ros.training``: ``sapnet-train`` by module name, as ``torchrun -m`` runs it."""

import sys

from sapnet_ros.training.train import main

sys.exit(main())
