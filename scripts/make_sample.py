"""Remake the sample of real drawings that ships with strokelens (`strokelens.datasets.write_sample`).

    python scripts/make_sample.py [--home DIR] [--out DIR]

``--home`` (default: $STROKELENS_HOME) is a data folder with ``data/quickdraw-spg``; ``--out`` defaults
to the package's ``samples/quickdraw-spg``. The folder's ATTRIBUTION.md is kept as it is.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from strokelens.datasets import SAMPLE_DIR, SAMPLE_PER_CLASS, write_sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=None, help="data folder (default: $STROKELENS_HOME)")
    parser.add_argument("--out", type=Path, default=SAMPLE_DIR)
    parser.add_argument("--per-class", type=int, default=SAMPLE_PER_CLASS)
    args = parser.parse_args()
    files = write_sample(args.out, args.per_class, home=args.home)
    size = sum(p.stat().st_size for p in files)
    print(f"wrote {len(files)} files, {size / 1024:.0f} KiB, to {args.out}")


if __name__ == "__main__":
    main()
