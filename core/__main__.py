"""MID Lab's command line: `python -m core sweep | benchmark | zoo | prior | fetch-olivetti` (see --help of each)."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from core.config import (
    ATTACKS,
    DATA_ENV,
    DATASETS,
    DEFAULT_LAMBDAS,
    PREDICT_MODES,
    PUBLIC_SETS,
    RESULTS_ENV,
    STORE_ENV,
    AttackConfig,
    ConfigError,
    InversionConfig,
    ModelConfig,
    SweepConfig,
    TargetConfig,
    TrainConfig,
    check_lambda,
    data_root,
    framed_for,
    results_root,
    store_root,
    sweep_defaults,
)
from core.data import DataError
from core.files import StoreError


def _lambda_list(text: str) -> tuple[float, ...]:
    try:
        values = tuple(check_lambda(float(v)) for v in text.split(",") if v.strip())
    except (ValueError, ConfigError) as error:
        raise argparse.ArgumentTypeError(f"{text!r}: {error}") from None
    if not values:
        raise argparse.ArgumentTypeError("give at least one lambda, e.g. 0,0.01,0.1")
    return values


def _int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers") from None
    if not values:
        raise argparse.ArgumentTypeError("give at least one seed, e.g. 0,1,2")
    return values


def _int_at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}; got {value}")
        return value

    return parse


_positive_int, _non_negative_int = _int_at_least(1), _int_at_least(0)


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", help=f"folder holding the datasets (default: ${DATA_ENV}, else ./data)")
    parser.add_argument("--store", help=f"folder of trained models and attacks (default: ${STORE_ENV}, else ./store)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="MID Lab: model inversion and the MID defense.")
    commands = parser.add_subparsers(dest="command", required=True)

    sweep = commands.add_parser(
        "sweep", help="train, attack and score one model per lambda and seed; print and save the results",
        description="Train a target per lambda and seed (reusing stored ones), invert every identity with the "
                    "attack, score the reconstructions with an independently trained evaluation classifier, "
                    "print a table and write one JSON results file.")
    add_common(sweep)
    defaults_train, defaults_model = TrainConfig(), ModelConfig()
    sweep.add_argument("--dataset", choices=DATASETS, default="orl", help="private dataset (default: orl)")
    sweep.add_argument("--folder", default="", help="for --dataset folder: a folder of <identity>/<image> files")
    sweep.add_argument("--lambdas", type=_lambda_list, default=DEFAULT_LAMBDAS,
                       help="comma-separated MID weights, each in [0, 1000] (default: "
                            f"{','.join(f'{v:g}' for v in DEFAULT_LAMBDAS)})")
    sweep.add_argument("--public", choices=PUBLIC_SETS, default="lfw_public",
                       help="the attacker's auxiliary faces (MI-Face starts from their mean): LFW's public_rest "
                            "people, or identities of the dataset held out of the target (default: lfw_public)")
    sweep.add_argument("--public-identities", type=_non_negative_int, default=0,
                       help="identities of the dataset kept out of the target, as the attacker's public set "
                            "(a seeded choice; default: 0)")
    sweep.add_argument("--seeds", type=_int_list, default=(0,), help="comma-separated training seeds (default: 0)")
    sweep.add_argument("--attack", choices=ATTACKS, default="miface",
                       help="inversion attack: miface (pixel gradients), gmi (a GAN prior's latent space, "
                            "white-box), inversion (a decoder from prediction vectors, black-box) "
                            "(default: miface)")
    sweep.add_argument("--top-k", type=_non_negative_int, default=InversionConfig().top_k,
                       help="for --attack inversion: the attacker sees only the k largest probabilities "
                            "(default: 0, all of them)")
    sweep.add_argument("--max-per-identity", type=_non_negative_int, default=None,
                       help="cap each identity's images (a seeded choice) to tame imbalance (default: "
                            f"{sweep_defaults('lfw').target.data.max_per_identity} for lfw, else 0 = no cap)")
    sweep.add_argument("--view", choices=PREDICT_MODES, default="mu",
                       help="the attacker's view of a MID model: a fresh sample of z per query, the mean of "
                            "K samples, or mu (white-box) (default: mu)")
    sweep.add_argument("--predict-mode", choices=PREDICT_MODES, default=defaults_model.predict_mode,
                       help="how the deployed model answers test queries (default: sample, as the official code)")
    sweep.add_argument("--bottleneck", type=_positive_int, default=defaults_model.bottleneck_dim,
                       help=f"size k of the MID code z (default: {defaults_model.bottleneck_dim})")
    sweep.add_argument("--epochs", type=_positive_int, default=None,
                       help=f"target training epochs (default: {defaults_train.epochs}; "
                            f"{sweep_defaults('lfw').target.train.epochs} for lfw)")
    sweep.add_argument("--out", help=f"folder for the results JSON (default: ${RESULTS_ENV}, else ./results)")
    sweep.add_argument("--quiet", action="store_true", help="no progress bar")

    bench = commands.add_parser("benchmark", help="time the default ORL sweep from an empty store, then stored",
                                description="Runs the default ORL sweep into a fresh temporary store, prints wall "
                                            "time per stage, peak memory and the figures, then times the same "
                                            "sweep again with everything stored, in a new process.")
    bench.add_argument("--data", help=f"folder holding the datasets (default: ${DATA_ENV}, else ./data)")
    bench.add_argument("--keep", help="an empty (or new) folder to keep the benchmark's store and results in; "
                                      "by default they go to a temporary folder that is deleted")
    bench.add_argument("--attacks", action="store_true",
                       help="also time GMI and the inversion network on the lambda = 0 model (about 2 minutes)")

    zoo = commands.add_parser("zoo", help="rebuild the default model zoo in assets/zoo from the default ORL sweep",
                              description="Runs (or reuses from the store) the default ORL sweep under every attack "
                                          "and exports its models and reconstructions, compactly, to assets/zoo for "
                                          "the dashboard.")
    add_common(zoo)
    zoo.add_argument("--out", help=f"folder for the sweep's results JSON (default: ${RESULTS_ENV}, else ./results)")

    prior = commands.add_parser("prior", help="train (or reuse) the GAN prior and ship it in assets/store",
                                description="Trains the attacker's GAN on LFW's public faces (about 12 minutes on 2 "
                                            "CPU cores), or reuses it from the store, and exports it in half "
                                            "precision to assets/store, where every user's engine finds it.")
    add_common(prior)
    prior.add_argument("--dataset", choices=DATASETS, default="lfw",
                       help="train the prior framed for this private dataset's photos (default: lfw)")

    fetch = commands.add_parser("fetch-olivetti", help="download the ORL people at 64x64 (needs internet, sklearn)")
    fetch.add_argument("--data", help=f"folder to write olivetti/ into (default: ${DATA_ENV}, else ./data)")
    return parser


def sweep_config(args: argparse.Namespace) -> SweepConfig:
    """The dataset's default sweep (core.config.sweep_defaults) with the options given on the command line."""
    base = sweep_defaults(args.dataset, args.folder)
    data = dataclasses.replace(base.target.data, public_identities=args.public_identities)
    if args.max_per_identity is not None:
        data = dataclasses.replace(data, max_per_identity=args.max_per_identity)
    train = base.target.train if args.epochs is None else dataclasses.replace(base.target.train, epochs=args.epochs)
    target = TargetConfig(
        data=data,
        model=dataclasses.replace(base.target.model, predict_mode=args.predict_mode, bottleneck_dim=args.bottleneck),
        train=train,
    )
    attack = dataclasses.replace(base.attack, attack=args.attack, view=args.view, public=args.public,
                                 inversion=dataclasses.replace(base.attack.inversion, top_k=args.top_k))
    return SweepConfig(target=target, lambdas=args.lambdas, seeds=args.seeds, attack=attack,
                       evaluator=dataclasses.replace(base.evaluator, data=data))


def command_sweep(args: argparse.Namespace) -> int:
    from core.engine import Engine
    from core.results import results_path
    from core.runtime import ProgressLine, pick_device
    from core.store import Store
    from core.sweep import format_table, run_sweep

    config = sweep_config(args)
    engine = Engine(Store(store_root(args.store)), data_root(args.data), pick_device(),
                    progress=(lambda *a: None) if args.quiet else ProgressLine())
    out = results_root(args.out)
    results = run_sweep(config, engine, out)
    print(format_table(results))
    reused = sum(r["reused"]["target"] for r in results["runs"])
    print(f"{len(results['runs'])} runs ({reused} models reused) in {sum(results['timings'].values()):.1f}s; "
          f"results: {results_path(out, results['config_hash'])}")
    return 0


def command_benchmark(args: argparse.Namespace) -> int:
    from core.benchmark import run_benchmark

    return run_benchmark(data_root(args.data), Path(args.keep) if args.keep else None, args.attacks)


def command_zoo(args: argparse.Namespace) -> int:
    from core.engine import Engine
    from core.gallery import ZOO_DIR
    from core.runtime import ProgressLine, pick_device
    from core.store import Store
    from core.zoo import build_zoo

    engine = Engine(Store(store_root(args.store)), data_root(args.data), pick_device(), progress=ProgressLine())
    manifest = build_zoo(engine, results_root(args.out))
    size = sum((ZOO_DIR / name).stat().st_size for name in manifest["zoo"]["files"])
    runs = [run for sweep in manifest["sweeps"] for run in sweep["runs"]]
    agreement = min(run["half_precision_agreement"] for run in runs)
    print(f"wrote {ZOO_DIR}: {len(manifest['sweeps'])} sweeps, {len(runs)} runs, {len(manifest['zoo']['files'])} "
          f"files, {size / 2**20:.1f} MiB; half-precision weights agree with full precision on >= {agreement:.1%} "
          "of test predictions")
    return 0


def command_prior(args: argparse.Namespace) -> int:
    from core.config import config_hash
    from core.engine import SHIPPED, Engine
    from core.runtime import ProgressLine, pick_device
    from core.store import Store

    engine = Engine(Store(store_root(args.store)), data_root(args.data), pick_device(), progress=ProgressLine())
    config = framed_for(args.dataset, AttackConfig()).prior
    gan, record, reused = engine.prior(config)
    half = {k: (v.half() if v.is_floating_point() else v) for k, v in gan.state_dict().items()}
    folder = SHIPPED.save("priors", config_hash(config), half, {**record, "weights_dtype": "float16"})
    size = sum(f.stat().st_size for f in folder.iterdir())
    print(f"prior {config_hash(config)} ({'reused' if reused else 'trained'}; {record['timings']['train_s']:.0f}s "
          f"of training on {record['images']} public faces) -> {folder} ({size / 2**20:.1f} MiB)")
    return 0


def command_fetch(args: argparse.Namespace) -> int:
    from core.data import fetch_olivetti

    print(f"wrote {fetch_olivetti(data_root(args.data))}")
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "sweep": command_sweep, "benchmark": command_benchmark, "zoo": command_zoo, "prior": command_prior,
    "fetch-olivetti": command_fetch,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s")
    from core.train import TrainingDiverged

    try:
        return COMMANDS[args.command](args)
    except ConfigError as error:
        parser.exit(2, f"error: {error}\n")
    except (DataError, StoreError, TrainingDiverged) as error:
        parser.exit(1, f"error: {error}\n")
    except KeyboardInterrupt:
        parser.exit(130, "interrupted: everything finished so far is stored and will be reused\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
