"""Where MID Lab's data, store and results live: a command-line flag, else an environment variable, else a folder
under the working directory."""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "MIDLAB_DATA"
STORE_ENV = "MIDLAB_STORE"
RESULTS_ENV = "MIDLAB_RESULTS"


def data_root(flag: str | None = None) -> Path:
    """The data folder: the --data flag, else $MIDLAB_DATA, else ./data."""
    return Path(flag or os.environ.get(DATA_ENV) or "data").expanduser()


def store_root(flag: str | None = None) -> Path:
    """The store of trained models and attack results: --store, else $MIDLAB_STORE, else ./store."""
    return Path(flag or os.environ.get(STORE_ENV) or "store").expanduser()


def results_root(flag: str | None = None) -> Path:
    """Where sweep results files go: --out, else $MIDLAB_RESULTS, else ./results."""
    return Path(flag or os.environ.get(RESULTS_ENV) or "results").expanduser()
