"""The README's face grids: one training photo per person, then each chosen sweep's reconstructions at one
lambda, one row each, for the first identities.

    MIDLAB_DATA=../shared/data .venv/bin/python benchmarks/readme_grid.py assets/readme_lfw.png \
        results/sweep_<gmi hash>.json:0 results/sweep_<gmi hash>.json:0.1 --identities 10
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository, when run as a script
from core.gallery import Sweep, original_faces
from core.images import tile
from core.paths import data_root
from core.results import load_results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="the PNG to write")
    parser.add_argument("rows", nargs="+", help="results file and lambda, as path:lambda, one per row")
    parser.add_argument("--identities", type=int, default=10, help="how many people, from the first label")
    parser.add_argument("--scale", type=int, default=2, help="pixels per image pixel (default 2)")
    parser.add_argument("--data", help="the data folder (default: $MIDLAB_DATA, else ./data)")
    args = parser.parse_args()
    sweeps = []
    for row in args.rows:
        path, _, value = row.rpartition(":")
        results = load_results(Path(path))
        if results is None:
            parser.error(f"{path} is not a readable sweep results file")
        sweeps.append((Sweep(results, "trained here"), float(value)))
    originals, names, _ = original_faces(sweeps[0][0].typed.settings.target.data, data_root(args.data))
    rows = [originals[: args.identities]] + [sweep.reconstructions(value)[: args.identities] for sweep, value in sweeps]
    grid = tile(np.concatenate(rows), columns=args.identities)
    size = (grid.shape[1] * args.scale, grid.shape[0] * args.scale)
    Image.fromarray(grid).resize(size, Image.NEAREST).save(args.out, optimize=True)
    print(f"wrote {args.out}: {', '.join(names[: args.identities])}")
    for sweep, value in sweeps:
        print(f"  {sweep.results['config']['attack']['attack']} at lambda {value:g}: attack top-1 over all "
              f"{len(names)} people {sweep.row(value).attack_top1.value:.2f}")


if __name__ == "__main__":
    main()
