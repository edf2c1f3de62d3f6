"""The benchmark: the default ORL sweep from an empty store, then again with everything stored; optionally
the GAN-prior attack and the inversion network on its lambda = 0 model, and the DP-SGD targets.

Prints wall time per stage, peak memory, the machine, and the figures; the README quotes its output.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import torch

from core.config import ATTACKS, ComparisonConfig, sweep_defaults
from core.data import PreparedData
from core.engine import Engine
from core.files import StoreError
from core.results import format_figure, load_results, results_path
from core.runtime import ProgressLine, peak_memory_mb, pick_device
from core.store import Store
from core.sweep import format_table, run_sweep


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    return (f"{os.cpu_count()} CPUs ({cpu or 'unknown'}), torch {torch.__version__} with "
            f"{torch.get_num_threads()} threads, device {pick_device()}")


def dp_benchmark(engine: Engine) -> None:
    """Train the default comparison's DP-SGD targets on ORL (one per noise multiplier) and print each one's
    time, epsilon and test accuracy, and the total."""
    comparison = ComparisonConfig(sweep=sweep_defaults("orl"))
    data = PreparedData.load(comparison.sweep.target.data, engine.data_root)
    targets = [(noise, config) for defense, noise, _, config in comparison.targets() if defense == "dpsgd"]
    print(f"\nDP-SGD on ORL: {len(targets)} noise multipliers, {comparison.dp_train.epochs} epochs, batches of "
          f"{comparison.dp_train.batch_size}, clipping {comparison.dp_train.privacy.max_grad_norm:g}, width "
          f"{comparison.dp_model.width} (Opacus {metadata.version('opacus')})")
    start = time.perf_counter()
    for noise, config in targets:
        record = engine.target(config, data)[1]
        print(f"  noise {noise:<4g} epsilon {record['privacy']['epsilon']:7.1f} at delta "
              f"{record['privacy']['delta']:g}  test accuracy {format_figure(record['test']['deployed']['accuracy'])}"
              f"  {record['timings']['train_s']:.1f} s")
    print(f"  all {len(targets)} from an empty store: {time.perf_counter() - start:.1f} s")


def run_benchmark(data_root: Path, keep: Path | None = None, attacks: bool = False, dp: bool = False) -> int:
    """Time the default sweep from an empty store; with `keep`, the store and results stay in that folder;
    with `attacks`, also GMI and the inversion network on the lambda = 0 model; with `dp`, instead, the
    DP-SGD targets of the default comparison."""
    config = sweep_defaults("orl")
    if keep is not None and keep.exists() and any(keep.iterdir()):
        raise StoreError(f"{keep} is not empty: the benchmark starts from an empty store")
    with tempfile.TemporaryDirectory(prefix="midlab-bench-") as tmp:
        base = keep or Path(tmp)
        store, out = base / "store", base / "results"
        engine = Engine(Store(store), data_root, pick_device(), progress=ProgressLine())
        if dp:
            print(f"machine: {machine()}")
            dp_benchmark(engine)
            print(f"peak memory {peak_memory_mb():.0f} MB")
            return 0
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
        others = [run_sweep(dataclasses.replace(config, lambdas=(0.0,), attack=dataclasses.replace(
            config.attack, attack=name)), engine, out) for name in ATTACKS[1:]] if attacks else []

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
    if others:
        print("\nattacks on the lambda = 0 model (top-1 with 95% interval, seconds for all identities):")
        for result in [results, *others]:
            run = result["runs"][0]
            print(f"  {result['config']['attack']['attack']:<10} top-1 {format_figure(run['attack']['top1'], 2)}  "
                  f"top-5 {run['attack']['top5']['value']:.2f}  {run['timings']['attack_s']:.1f} s")
        prior = engine.prior(config.attack.prior)[1]
        print(f"  the GMI prior ({prior['config_hash']}, shipped) trained in {prior['timings']['train_s']:.0f} s on "
              f"{prior['images']} public faces ({prior['environment']['torch_threads']} threads)")
    return 0
