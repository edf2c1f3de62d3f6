"""Seeding, device choice, the facts every stored record carries (versions, hardware, timings), and a
terminal progress line."""

from __future__ import annotations

import platform
import random
import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from typing import TextIO

import numpy as np
import torch


def seed_everything(seed: int) -> torch.Generator:
    """The one seeding function: Python, NumPy and torch, plus a generator for code that wants its own."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def environment(device: torch.device) -> dict[str, object]:
    """What a result depends on beyond its config: library versions, device and thread count."""
    info: dict[str, object] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "safetensors": _version("safetensors"),
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def timestamp() -> str:
    """Local time with its UTC offset, as every record states when it was made."""
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def peak_memory_mb() -> float:
    """Peak resident memory of this process (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Timings(dict):
    """Wall-clock seconds per named stage, accumulated: `with timings.stage("train"): ...`."""

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - start)

    def add(self, name: str, seconds: float) -> None:
        self[name] = round(self.get(name, 0.0) + seconds, 3)


class ProgressLine:
    """A one-line progress bar on a terminal; on a log (CI), one line per finished stage. With byte_counts the
    counts are bytes, shown in MiB with the rate of this transfer (bytes already there when it began, as in a
    resumed download, do not count towards the rate)."""

    def __init__(self, stream: TextIO = sys.stderr, byte_counts: bool = False) -> None:
        self.stream = stream
        self.live = stream.isatty()
        self.start = time.perf_counter()
        self.byte_counts = byte_counts
        self.first_done: int | None = None

    def _counts(self, done: int, total: int, elapsed: float) -> str:
        if not self.byte_counts:
            return f"{done}/{total}"
        if self.first_done is None:
            self.first_done = done
        rate = (done - self.first_done) / max(elapsed, 1e-6) / 2**20
        return f"{done / 2**20:.1f}/{total / 2**20:.1f} MiB, {rate:.1f} MiB/s"

    def __call__(self, message: str, done: int, total: int) -> None:
        elapsed = time.perf_counter() - self.start
        counts = self._counts(done, total, elapsed)
        if self.live:
            filled = int(24 * done / max(total, 1))
            self.stream.write(f"\r  {message:<34} [{'#' * filled}{'.' * (24 - filled)}] {counts}  {elapsed:6.1f}s")
            if done >= total:
                self.stream.write("\n")
        elif done >= total:
            self.stream.write(f"  {message} done ({counts + ', ' if self.byte_counts else ''}{elapsed:.1f}s)\n")
        self.stream.flush()
