"""`python -m core` with every model shrunk to seconds, for tests that run it in a subprocess and kill it.

`python tests/tiny_cli.py sweep ARGS` is the real CLI (its parsing, errors and exit codes) with 16-pixel
faces, width-2 networks, a 7-epoch judge and 10 MI-Face steps; `--epochs` still sets the targets' training,
so a test can make the model in flight as slow as it needs. `python tests/tiny_cli.py job ARGS` runs the same
sweep through the dashboard's job queue, as a Streamlit server would, and waits for it.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: find core/

import core.__main__ as cli
from core.paths import data_root, results_root, store_root
from core.sweep_config import SweepConfig

FULL_SIZE = cli.sweep_config


def shrink(config: SweepConfig) -> SweepConfig:
    data = dataclasses.replace(config.target.data, image_size=16)
    model = dataclasses.replace(config.target.model, width=2, bottleneck_dim=4)
    attack = dataclasses.replace(config.attack, miface=dataclasses.replace(config.attack.miface, steps=10))
    evaluator = dataclasses.replace(config.evaluator, data=data, width=2, embedding_dim=8, epochs=5,
                                    finetune_epochs=2)
    return dataclasses.replace(config, target=dataclasses.replace(config.target, data=data, model=model),
                               attack=attack, evaluator=evaluator)


def tiny_sweep_config(args: argparse.Namespace) -> SweepConfig:
    """Stands in for the CLI's own `sweep_config`."""
    return shrink(FULL_SIZE(args))


def tiny_config(argv: list[str]) -> tuple[SweepConfig, argparse.Namespace]:
    """The config (and parsed options) that `tiny_cli.py sweep ARGV` runs."""
    args = cli.build_parser().parse_args(["sweep", *argv])
    return tiny_sweep_config(args), args


def run_job(argv: list[str]) -> int:
    from core.jobs import JobQueue

    config, args = tiny_config(argv)
    queue = JobQueue()
    job_id = queue.submit(config, store_root(args.store), data_root(args.data), results_root(args.out))
    while not (job := queue.snapshot(job_id)).finished:
        time.sleep(0.05)
    print(job.status, job.error)
    return 0 if job.status == "done" else 1


if __name__ == "__main__":
    if sys.argv[1] == "job":
        sys.exit(run_job(sys.argv[2:]))
    cli.sweep_config = tiny_sweep_config
    sys.exit(cli.main(sys.argv[1:]))
