"""The benchmark: the default ORL sweep from an empty store, then again with everything stored; optionally
the GAN-prior attack and the inversion network on its lambda = 0 model; or the default LFW sweep under all
three attacks; or instead the DP-SGD targets, or the default regime study.

Prints wall time per stage, peak memory, the machine, and the figures; docs/benchmarks.md quotes its output.
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

from core.attack_config import ATTACKS, with_gmi_recipe
from core.data import PreparedData
from core.engine import Engine
from core.errors import SchemaError, StoreError
from core.executor import Executor, LocalExecutor
from core.models import TargetNet
from core.presets import default_studies, sweep_defaults
from core.result_types import SweepResults, SweepRun
from core.results import format_estimate, read_typed, results_path, typed_results
from core.runtime import ProgressLine, peak_memory_mb, pick_device
from core.stats import paired_difference
from core.store import Store
from core.stored_config import config_hash
from core.sweep import format_table, run_sweep
from core.sweep_config import ComparisonConfig


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
              f"{record['privacy']['delta']:g}  test accuracy {format_estimate(record['test']['deployed']['accuracy'])}"
              f"  {record['timings']['train_s']:.1f} s")
    print(f"  all {len(targets)} from an empty store: {time.perf_counter() - start:.1f} s")


def gmi_step_benchmark(data_root: Path, recipe: str, steps: int) -> None:
    """Time `steps` steps of GMI's `recipe` on the default ORL sweep's MID architecture, every identity at once,
    queried in the deployed ('sample') view, with the shipped prior. The target is untrained: a step costs
    the same whatever the weights, and no model has to be trained first."""
    from core.attacks import attacker_query, run_gmi

    config = sweep_defaults("orl")
    attack = with_gmi_recipe(config.attack, recipe)
    gmi = dataclasses.replace(attack.gmi, steps=steps, record_every=steps)
    data = PreparedData.load(config.target.data, data_root)
    device = pick_device()
    with tempfile.TemporaryDirectory(prefix="midlab-bench-") as tmp:  # the prior ships: nothing is written there
        gan = Engine(Store(Path(tmp)), data_root, device).prior(attack.prior)[0]
    labels = torch.arange(data.images.num_classes, device=device)
    target = TargetNet(len(labels), config.target.model, config.target.data.image_size).to(device)
    query = attacker_query(target, "sample", attack.view_samples)
    print(f"machine: {machine()}")
    start = time.perf_counter()
    run_gmi(query, labels, gan, gmi)
    seconds = time.perf_counter() - start
    print(f"GMI {recipe} recipe on ORL: {len(labels)} identities x {gmi.restarts} restarts = "
          f"{len(labels) * gmi.restarts} codes, {steps} steps in {seconds:.1f} s: {seconds / steps:.3f} s per step "
          f"(start-up and records included); {attack.gmi.steps * seconds / steps / 60:.1f} min for the recipe's "
          f"{attack.gmi.steps} steps")


def stored_rerun(command: list[str], data_root: Path, store: Path, out: Path) -> float:
    """Seconds a user waits re-running `python -m core <command>` with everything stored: a new process, its
    imports counted."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "core", *command, "--quiet", "--data", str(data_root), "--store",
                    str(store), "--out", str(out)], check=True, capture_output=True)
    return time.perf_counter() - start


def study_benchmark(engine: Engine, data_root: Path, store: Path, out: Path, executor: Executor) -> None:
    """Run the default study (core.presets.default_studies) from an empty store and print each study's time,
    models and verdicts and the total; then re-run it in a new process and check that nothing was redone."""
    from core.study import run_study, study_path

    configs = default_studies()
    base = configs[0].base
    print(f"machine: {machine()}")
    print(f"default study on {base.target.data.dataset}: lambdas {', '.join(f'{v:g}' for v in base.lambdas)}; seeds "
          f"{', '.join(map(str, base.seeds))}; base attack {base.attack.attack} ({base.attack.view} view)")
    start = time.perf_counter()
    for config in configs:
        began = time.perf_counter()
        results = run_study(config, engine, out, executor=executor)
        typed = typed_results(results)
        points = [point for regime in typed.regimes for point in regime.points]
        trained = sum(not point.reused.target for point in points)
        attacked = sum(not point.reused.attack for point in points)
        verdicts = ", ".join(f"{regime.level}: {regime.verdict.verdict}" for regime in typed.regimes)
        print(f"  {config.factor:<16} {len(points):3d} points, {trained:2d} models trained, {attacked:2d} attacks run, "
              f"{time.perf_counter() - began:7.1f} s  ({verdicts})\n    {executor_line(results)}", flush=True)
        if (overhead := overhead_line(executor)) is not None:
            print(f"    {overhead}", flush=True)
    cold = time.perf_counter() - start
    warm = stored_rerun(["study"], data_root, store, out)
    for config in configs:
        served_whole(study_path(out, config_hash(config)), "study")
    print(f"from an empty store: {cold:.1f} s ({cold / 60:.1f} min); everything stored (new process): {warm:.1f} s; "
          f"peak memory {peak_memory_mb():.0f} MB")


def served_whole(path: Path, kind: str) -> None:
    """Check that the stored re-run whose results are at `path` trained and attacked nothing (StoreError)."""
    try:
        rerun = read_typed(path, kind)
    except SchemaError as error:
        raise StoreError(f"the stored re-run left no valid results ({error})") from None
    points = rerun.runs if isinstance(rerun, SweepResults) else [p for r in rerun.regimes for p in r.points]
    if not all(point.reused.target and point.reused.attack for point in points):
        raise StoreError("the stored re-run trained or attacked again: the store did not serve it")


def print_paired(results: SweepResults, baseline: SweepResults) -> None:
    """Per lambda, one attack's top-1 minus another's on the same identities, with the paired interval."""
    def hits(run: SweepRun) -> list[bool]:
        return [identity.top1 for identity in run.attack.per_identity]

    baseline_hits = {(run.lambda_, run.seed): hits(run) for run in baseline.runs}
    names = results.settings.attack.attack, baseline.settings.attack.attack
    print(f"\n{names[0]} minus {names[1]}, top-1 on the same identities (95% paired interval; exact McNemar p):")
    for run in results.runs:
        difference = paired_difference(hits(run), baseline_hits[run.lambda_, run.seed])
        print(f"  lambda {run.lambda_:<7g} {format_estimate(difference, 2)}  (only {names[0]}: "
              f"{difference['only_a']}, only {names[1]}: {difference['only_b']}; p = {difference['p_value']:.3f})")


def executor_line(results: dict) -> str:
    """Where a sweep or study ran and what its task slots spent not computing units: (slots x wall time - the
    seconds its units computed) per unit computed. Worker start-up, data loading, scheduling, transfers and
    slots idle while a unit waits for those it needs all count in it."""
    executor, timings, units = results["executor"], results["timings"], results["units"]["computed"]
    compute = sum(seconds for stage, seconds in timings.items() if stage != "load_data_s")
    slots = executor["task_slots"]
    running = results["wall_s"] - timings.get("load_data_s", 0.0)
    where = (f"ray at {executor['address']} ({slots} task slots of {executor['cpus_per_task']} CPU)"
             if executor["name"] == "ray" else "local (this process)")
    return (f"executor: {where}, torch threads per unit: {executor['torch_threads']}; {units} units computed in "
            f"{compute:.1f} s of unit time; wall {running:.1f} s after loading the data; not computing: "
            f"{(slots * running - compute) / max(units, 1):.2f} s of a task slot per unit")


def overhead_line(executor: Executor) -> str | None:
    """Ray's seconds per task of the last run that were not its unit's computing (None for the local executor):
    dispatch, from when the task could start (the tasks it needs ended and a task slot on its node was free)
    to its start on a worker, which includes moving its inputs and, for a worker's first task, starting the
    worker; set-up on the worker (unpacking inputs, decoding the dataset the first time); and return, from its
    end to its result at the driver. Clocks are compared across processes: exact on one machine only."""
    timeline = getattr(executor, "timeline", None)
    if not timeline:
        return None
    import ray

    slots = {node["NodeID"]: max(1, int(node["Resources"].get("CPU", 1) // executor.cpus_per_task))
             for node in ray.nodes() if node["Alive"]}
    ended = {task["key"]: task["ended"] for task in timeline}
    dispatch, setup, back = [], [], []
    for task in timeline:
        earlier = sorted((other["ended"] for other in timeline
                          if other["node"] == task["node"] and other["started"] < task["started"]), reverse=True)
        k = slots.get(task["node"], 1)
        slot_free = earlier[k - 1] if len(earlier) >= k else 0.0
        ready = max([task["submitted"], slot_free, *(ended[key] for key in task["inputs"])])
        dispatch.append(task["started"] - ready)
        setup.append(task["ended"] - task["started"] - task["seconds"])
        back.append(task["arrived"] - task["ended"])
    total = [a + b + c for a, b, c in zip(dispatch, setup, back, strict=True)]
    mean = sum(total) / len(total)
    return (f"Ray's overhead per task: {mean:.2f} s on average, at most {max(total):.2f} s, over {len(total)} tasks "
            f"(dispatch {sum(dispatch) / len(total):.2f} s, set-up on the worker {sum(setup) / len(total):.2f} s, "
            f"return {sum(back) / len(total):.2f} s); their units computed {sum(t['seconds'] for t in timeline):.1f} s")


def run_benchmark(data_root: Path, keep: Path | None = None, attacks: bool = False, dp: bool = False,
                  study: bool = False, dataset: str = "orl", executor: Executor | None = None,
                  lambdas: tuple[float, ...] | None = None) -> int:
    """Time the default sweep of `dataset` (or over `lambdas`) from an empty store (on LFW under all three
    attacks: its judge and the prior ship, so they are loaded, not trained), on `executor` (default: this
    process); with `keep`, the store and results stay in that folder; with `attacks`, on ORL also GMI and the
    inversion network on the lambda = 0 model; with `dp`, instead, the DP-SGD targets of the default comparison
    (in this process); with `study`, instead, the default regime study."""
    executor = executor or LocalExecutor()
    config = sweep_defaults(dataset)
    if lambdas:
        config = dataclasses.replace(config, lambdas=lambdas)
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
        if study:
            study_benchmark(engine, data_root, store, out, executor)
            return 0
        names = ATTACKS if dataset == "lfw" else (config.attack.attack,)
        start = time.perf_counter()
        sweeps = [run_sweep(config.under(name), engine, out, executor=executor) for name in names]
        typed = [typed_results(results) for results in sweeps]
        cold = time.perf_counter() - start
        grid = ["--lambdas", ",".join(f"{v:g}" for v in lambdas)] if lambdas else []
        warm = sum(stored_rerun(["sweep", "--dataset", dataset, "--attack", name, *grid], data_root, store, out)
                   for name in names)
        for results in typed:
            served_whole(results_path(out, results.config_hash), "sweep")
        others = [typed_results(run_sweep(dataclasses.replace(config.under(name), lambdas=(0.0,)), engine, out,
                                          executor=executor))
                  for name in ATTACKS[1:]] if attacks and dataset == "orl" else []

    first = typed[0]
    print(f"\nMID Lab benchmark: {'the' if lambdas else 'default'} {dataset.upper()} sweep ({len(config.lambdas)} "
          f"lambdas x {len(config.seeds)} seed, {' / '.join(names)} on all {first.data.identities} identities, "
          f"{config.attack.view} view)")
    print(f"machine: {machine()}")
    print(f"from an empty store: {cold:.1f} s ({cold / 60:.1f} min); everything stored (new process per attack): "
          f"{warm:.1f} s; peak memory {peak_memory_mb():.0f} MB")
    for results in sweeps:
        print(f"  {executor_line(results)}")
    if (overhead := overhead_line(executor)) is not None:
        print(f"  {overhead}{' (the last sweep)' if len(sweeps) > 1 or others else ''}")
    print(f"  judge {first.evaluator.key}: held-out accuracy {format_estimate(first.evaluator.heldout_accuracy)}")
    for results in typed:
        stages = ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in results.timings.items())
        attack_s = [run.timings["attack_s"] for run in results.runs]
        print(f"  {results.settings.attack.attack:<10} {stages}; per model: train "
              f"{sum(run.timings['train_s'] for run in results.runs) / len(results.runs):.1f} s (trained in the "
              f"first sweep), attack {min(attack_s):.1f} to {max(attack_s):.1f} s")
    for results in typed:
        print(f"\n{results.settings.attack.attack}:")
        print(format_table(results))
    if others:
        print("\nattacks on the lambda = 0 model (top-1 with 95% interval, seconds for all identities):")
        for result in [first, *others]:
            run = result.runs[0]
            print(f"  {result.settings.attack.attack:<10} top-1 {format_estimate(run.attack.top1, 2)}  "
                  f"top-5 {run.attack.top5.value:.2f}  {run.timings['attack_s']:.1f} s")
    by_attack = {results.settings.attack.attack: results for results in [*typed, *others]}
    if "gmi" in by_attack:
        print_paired(by_attack["gmi"], by_attack["miface"])
        prior = engine.prior(config.attack.prior)[1]
        print(f"  the GMI prior ({prior['config_hash']}, shipped) trained in {prior['timings']['train_s']:.0f} s on "
              f"{prior['images']} public faces ({prior['environment']['torch_threads']} threads)")
    return 0
