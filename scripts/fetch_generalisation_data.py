"""Fetch the real rainy photos that the generalisation sets evaluate on (never into the repository).

Source: the SAPNet authors' public repository, ShenZheng2000/SAPNet-for-image-deraining,
commit 71cc28123159568649501d9d38906dbc1e3eb4e4, folder ``datasets/real_input``: 147 real
rainy photos (PNG, no ground truth) that the authors collected for qualitative tests. The
repository's code is MIT; the photos carry no licence of their own, so they are used for local
evaluation only and stay out of this repository (docs/generalisation.md).

    .venv/bin/python scripts/fetch_generalisation_data.py            # -> $SAPNET_DATA/sapnet_real_input
    SAPNET_DATA=/work/data .venv/bin/python scripts/fetch_generalisation_data.py

Needs git and network access to GitHub. The set is then picked up by
``sapnet_ros.synthesis.sets.real_sets`` and ``sapnet-bench --only generalisation``.
"""

import argparse
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from sapnet_ros.synthesis.sets import REAL_FOLDER, data_dir

REPOSITORY = "https://github.com/ShenZheng2000/SAPNet-for-image-deraining.git"
COMMIT = "71cc28123159568649501d9d38906dbc1e3eb4e4"
FOLDER = "datasets/real_input"
EXPECTED = 147


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=data_dir() / REAL_FOLDER, help="default: %(default)s")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        clone = Path(scratch) / "repo"
        subprocess.run(["git", "clone", "--quiet", "--filter=blob:none", "--no-checkout", REPOSITORY, str(clone)],
                       check=True)  # fmt: skip
        archive = Path(scratch) / "real.tar"
        subprocess.run(["git", "-C", str(clone), "archive", "--output", str(archive), COMMIT, FOLDER], check=True)
        staging = Path(scratch) / "out"
        with tarfile.open(archive) as tar:
            tar.extractall(staging, filter="data")
        photos = sorted((staging / FOLDER).glob("*.png"))
        if len(photos) != EXPECTED:
            sys.exit(f"expected {EXPECTED} photos in {FOLDER}@{COMMIT[:7]}, found {len(photos)}")
        args.output.mkdir(parents=True, exist_ok=True)
        for photo in photos:
            (args.output / photo.name).write_bytes(photo.read_bytes())
    print(f"wrote {len(photos)} photos to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
