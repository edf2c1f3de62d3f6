"""The benchmark: the default ORL sweep from an empty store, then again with everything stored.

Prints wall time per stage, peak memory, the machine, and the figures; the README quotes its output.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from core.config import SweepConfig
from core.engine import Engine
from core.files import StoreError
from core.results import load_results, results_path
from core.runtime import ProgressLine, peak_memory_mb, pick_device
from core.store import Store
from core.sweep import format_table, run_sweep


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    return (f"{os.cpu_count()} CPUs ({cpu or 'unknown'}), torch {torch.__version__} with "
            f"{torch.get_num_threads()} threads, device {pick_device()}")


def run_benchmark(data_root: Path, keep: Path | None = None) -> int:
    """Time the default sweep from an empty store; with `keep`, the store and results stay in that folder."""
    config = SweepConfig()
    if keep is not None and keep.exists() and any(keep.iterdir()):
        raise StoreError(f"{keep} is not empty: the benchmark starts from an empty store")
    with tempfile.TemporaryDirectory(prefix="midlab-bench-") as tmp:
        base = keep or Path(tmp)
        store, out = base / "store", base / "results"
        engine = Engine(Store(store), data_root, pick_device(), progress=ProgressLine())
        start = time.perf_counter()
        results = run_sweep(config, engine, out)
        cold = time.perf_counter() - start
        # Stored: a user re-running the same command, so a new process with its imports counted.
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "core", "sweep", "--quiet", "--data", str(data_root),
                        "--store", str(store), "--out", str(out)], check=True, capture_output=True)
        warm = time.perf_counter() - start
        rerun = load_results(results_path(out, results["config_hash"]))
        if rerun is None or not all(all(run["reused"].values()) for run in rerun["runs"]):
            raise StoreError("the stored re-run trained or attacked again: the store did not serve it")

    runs = results["runs"]
    print(f"\nMID Lab benchmark: default ORL sweep ({len(config.lambdas)} lambdas x {len(config.seeds)} seed, "
          f"MI-Face on all {results['data']['identities']} identities, {config.attack.view} view)")
    print(f"machine: {machine()}")
    print(f"from an empty store: {cold:.1f} s; everything stored (new process): {warm:.1f} s; "
          f"peak memory {peak_memory_mb():.0f} MB")
    for stage, seconds in results["timings"].items():
        print(f"  {stage:<14} {seconds:8.1f} s")
    print(f"  per model: train {sum(r['timings']['train_s'] for r in runs) / len(runs):.1f} s, "
          f"MI-Face {sum(r['timings']['attack_s'] for r in runs) / len(runs):.1f} s")
    print(format_table(results))
    return 0
