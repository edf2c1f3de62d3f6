"""MID Lab's command line (see --help of each):
`python -m core sweep | panel | compare | study | report | benchmark | zoo | prior | judge | fetch`."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from core import interrupts
from core.attack_config import (
    ATTACKS,
    GMI_RECIPES,
    PUBLIC_SETS,
    AttackConfig,
    GMIConfig,
    InversionConfig,
    framed_for,
    with_gmi_recipe,
)
from core.config import DATASETS, PREDICT_MODES, ModelConfig, PrivacyConfig, TargetConfig, TrainConfig
from core.errors import ConfigError, DataError, MidLabError
from core.files import unwritable
from core.limits import LIMITS, check_limit, parse_number
from core.paths import DATA_ENV, RESULTS_ENV, STORE_ENV, data_root, results_root, store_root
from core.presets import (
    DEFAULT_STUDY_LAMBDAS,
    DEFAULT_STUDY_SEEDS,
    DEFAULT_STUDY_SUITE,
    sweep_defaults,
)
from core.study_design import STUDY_FACTORS, STUDY_LIMITS, StudyConfig, parse_levels
from core.sweep_config import DEFAULT_LAMBDAS, DEFAULT_NOISE_MULTIPLIERS, ComparisonConfig, SweepConfig, dp_defaults

FETCHABLE = ("orl", "lfw", "mnist", "olivetti")  # the keys of core.fetch.SOURCES, without importing it
FETCH_ALL = ("orl", "lfw", "mnist")  # what the dashboard and the default sweeps read; olivetti is ORL again

if TYPE_CHECKING:  # the engine imports torch: only the commands that need it load it
    from core.engine import Engine
    from core.executor import Executor


def _bounded(name: str) -> Callable[[str], int | float]:
    """The parser of one number in LIMITS[name], written plainly (core.limits.parse_number)."""
    limit = LIMITS[name]

    def parse(text: str) -> int | float:
        try:
            return check_limit(name, parse_number(text, limit.integer))
        except ConfigError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    parse.limit = limit  # type: ignore[attr-defined]  # --help states it; tests/test_inputs.py checks every option
    return parse


def _bounded_list(name: str, example: str) -> Callable[[str], tuple]:
    """The parser of a comma-separated list of numbers, each in LIMITS[name]."""
    one = _bounded(name)

    def parse(text: str) -> tuple:
        values = tuple(one(word) for word in text.split(",") if word.strip())
        if not values:
            raise argparse.ArgumentTypeError(f"give at least one value, e.g. {example}")
        return values

    parse.limit = LIMITS[name]  # type: ignore[attr-defined]
    return parse


def _range(name: str) -> str:
    return f"in {LIMITS[name]}"


def _choice_list(allowed: tuple[str, ...]) -> Callable[[str], tuple[str, ...]]:
    def parse(text: str) -> tuple[str, ...]:
        values = tuple(v.strip() for v in text.split(",") if v.strip())
        unknown = [v for v in values if v not in allowed]
        if unknown or not values:
            raise argparse.ArgumentTypeError(f"{text!r}: choose from {', '.join(allowed)}")
        return values

    return parse


def _numbers(values: Sequence[float]) -> str:
    return ",".join(f"{v:g}" for v in values)


def add_panel_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--panel", action="store_true",
                        help="score every attack with the judge panel too: a residual net and PCA + LDA besides the "
                             "judge, trained once per dataset (shipped for ORL's and LFW's default judges; "
                             "`python -m core panel` adds the panel to a stored results file later)")


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", help=f"folder holding the datasets (default: ${DATA_ENV}, else ./data)")
    parser.add_argument("--store", help=f"folder of trained models and attacks (default: ${STORE_ENV}, else ./store)")


def add_executor_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--executor", choices=("local", "ray"), default="local",
                        help="where the models are trained and attacked: local (this process, one after another) "
                             "or ray (in parallel, as Ray tasks; see docs/distributed.md) (default: local)")
    parser.add_argument("--ray-address",
                        help="with --executor ray: host:port of a running Ray cluster's head node (default: "
                             "$RAY_ADDRESS, else a local Ray instance with this machine's CPUs)")
    parser.add_argument("--cpus-per-task", type=_bounded("cpus_per_task"), default=1,
                        help="with --executor ray: CPUs each task reserves, and its torch threads "
                             f"({_range('cpus_per_task')}; default: 1)")


def add_sweep_options(parser: argparse.ArgumentParser) -> None:
    """The options of a lambda sweep: the private data, MID's grid, seeds, the attacker and the target."""
    add_common(parser)
    add_executor_options(parser)
    defaults_train, defaults_model = TrainConfig(), ModelConfig()
    parser.add_argument("--dataset", choices=DATASETS, default="orl", help="private dataset (default: orl)")
    parser.add_argument("--folder", default="", help="for --dataset folder: a folder of <identity>/<image> files")
    parser.add_argument("--lambdas", type=_bounded_list("lambda", "0,0.01,0.1"), default=DEFAULT_LAMBDAS,
                        help=f"comma-separated MID weights, each {_range('lambda')} (default: "
                             f"{_numbers(DEFAULT_LAMBDAS)})")
    parser.add_argument("--public", choices=PUBLIC_SETS, default="lfw_public",
                        help="the attacker's auxiliary faces (MI-Face starts from their mean): LFW's public_rest "
                             "people, or identities of the dataset held out of the target (default: lfw_public)")
    parser.add_argument("--public-identities", type=_bounded("public_identities"), default=0,
                        help="identities of the dataset kept out of the target, as the attacker's public set "
                             f"(a seeded choice; {_range('public_identities')}; default: 0)")
    parser.add_argument("--seeds", type=_bounded_list("seed", "0,1,2"), default=(0,),
                        help=f"comma-separated training seeds, each {_range('seed')} (default: 0)")
    parser.add_argument("--top-k", type=_bounded("top_k"), default=InversionConfig().top_k,
                        help="for --attack inversion: the attacker sees only the k largest probabilities "
                             f"({_range('top_k')}; default: 0, all of them)")
    parser.add_argument("--latent-bound", type=_bounded("latent_bound"), default=GMIConfig().latent_bound,
                        help="for --attack gmi: clamp each coordinate of the GAN's latent code to [-b, b] after "
                             f"every step, as GMI's own code does; b {_range('latent_bound')}, 0: unbounded "
                             f"(default: {GMIConfig().latent_bound:g})")
    parser.add_argument("--gmi-recipe", choices=GMI_RECIPES, default="fast",
                        help="for GMI: fast (screened starts, 40 Adam steps on log-odds, jitter) or paper (the "
                             "official loop: 5 random restarts, 1500 SGD steps, lr 0.02, momentum 0.9, "
                             "100 x cross-entropy; long: docs/method.md gives its measured cost; resumable "
                             "after an interruption) (default: fast)")
    parser.add_argument("--max-per-identity", type=_bounded("max_per_identity"), default=None,
                        help="cap each identity's images (a seeded choice) to tame imbalance "
                             f"({_range('max_per_identity')}; default: "
                             f"{sweep_defaults('lfw').target.data.max_per_identity} for lfw, else 0 = no cap)")
    parser.add_argument("--view", choices=PREDICT_MODES, default=AttackConfig().view,
                        help="the attacker's view of a MID model: sample (the deployed answer, a fresh z per "
                             "query, as the paper attacked), mean (of K samples), or mu (a white-box attacker who "
                             f"strips MID's noise) (default: {AttackConfig().view})")
    parser.add_argument("--predict-mode", choices=PREDICT_MODES, default=defaults_model.predict_mode,
                        help="how the deployed model answers test queries (default: sample, as the official code)")
    parser.add_argument("--bottleneck", type=_bounded("bottleneck"), default=defaults_model.bottleneck_dim,
                        help=f"size k of the MID code z ({_range('bottleneck')}; default: "
                             f"{defaults_model.bottleneck_dim})")
    parser.add_argument("--epochs", type=_bounded("epochs"), default=None,
                        help=f"target training epochs ({_range('epochs')}; default: {defaults_train.epochs}; "
                             f"{sweep_defaults('lfw').target.train.epochs} for lfw)")
    parser.add_argument("--judge-photometric", action="store_true",
                        help="score with a judge trained on blurred, low-contrast, noisy copies of the photos, as "
                             "the targets are: it names far more people in "
                             "MI-Face's smooth images (default: a conventional judge)")
    parser.add_argument("--out", help=f"folder for the results JSON (default: ${RESULTS_ENV}, else ./results)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


class OneLineParser(argparse.ArgumentParser):
    """A wrong option is refused in one line (argparse's own error also prints the whole usage)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m core", description="MID Lab: model inversion and the MID defense.")
    commands = parser.add_subparsers(dest="command", required=True)

    sweep = commands.add_parser(
        "sweep", help="train, attack and score one model per lambda and seed; print and save the results",
        description="Train a target per lambda and seed (reusing stored ones), invert every identity with the "
                    "attack, score the reconstructions with an independently trained evaluation classifier, "
                    "print a table and write one JSON results file.")
    add_sweep_options(sweep)
    sweep.add_argument("--attack", choices=ATTACKS, default="miface",
                       help="inversion attack: miface (pixel gradients), gmi (a GAN prior's latent space, "
                            "white-box), inversion (a decoder from prediction vectors, black-box) "
                            "(default: miface)")
    add_panel_option(sweep)

    panel = commands.add_parser(
        "panel", help="add the judge panel's figures to a stored sweep's, comparison's or study's results file, "
                      "without re-running attacks",
        description="Scores every reconstruction of a results file (a sweep, comparison or study; or the shipped "
                    "zoo) with the judge "
                    "panel (the file's own judge, a residual net and PCA + LDA, each trained or fitted once and "
                    "stored, or shipped), reading the reconstructions from the store (or the zoo's files), and "
                    "writes each judge's top-1, its sink check, the panel's median and range and how many people "
                    "all judges name back into the file.")
    add_common(panel)
    scored = panel.add_mutually_exclusive_group(required=True)
    scored.add_argument("--results", metavar="FILE",
                        help="a sweep_<hash>.json, comparison_<hash>.json or study_<hash>.json results file")
    scored.add_argument("--zoo", action="store_true",
                        help="every sweep of the shipped zoo (assets/zoo), from its shipped 8-bit reconstructions")
    panel.add_argument("--quiet", action="store_true", help="no progress bar")

    compare = commands.add_parser(
        "compare", help="no defense, MID (lambda grid) and DP-SGD (noise grid) under every attack, side by side",
        description="Train (or reuse) an undefended target, a MID target per lambda and a DP-SGD target per "
                    "noise multiplier (epsilon from Opacus' accountant), attack each with every attack, attack "
                    "the undefended model's API behind output defenses with the black-box attack, and write "
                    "one comparison file with each defense's frontier said in words.")
    add_sweep_options(compare)
    compare.add_argument("--attacks", type=_choice_list(ATTACKS), default=ATTACKS,
                         help=f"comma-separated attacks (default: {','.join(ATTACKS)})")
    compare.add_argument("--noise-multipliers", type=_bounded_list("noise_multiplier", "0.5,1,2"),
                         default=DEFAULT_NOISE_MULTIPLIERS,
                         help=f"comma-separated DP-SGD noise multipliers, each {_range('noise_multiplier')} "
                              f"(default: {_numbers(DEFAULT_NOISE_MULTIPLIERS)})")
    compare.add_argument("--clip", type=_bounded("clip"), default=PrivacyConfig().max_grad_norm,
                         help=f"DP-SGD per-example clipping norm ({_range('clip')}; default: "
                              f"{PrivacyConfig().max_grad_norm:g})")
    add_panel_option(compare)
    compare.add_argument("--ship", action="store_true",
                         help="also copy the comparison and its reconstructions to assets/comparisons, where "
                              "the dashboard shows it to every user")

    study = commands.add_parser(
        "study", help="lambda swept with one regime factor, >= 3 seeds each: does MID lower attack accuracy at "
                      "equal test accuracy, per regime? Without --factor: the default study",
        description="For each level of one factor (every other setting fixed), train (or reuse) an undefended "
                    "model and a MID model per lambda over the seeds, attack and score them, and judge per "
                    "regime whether MID lowers attack accuracy at equal test accuracy (yes / no / inconclusive, "
                    "by non-overlapping 95% intervals at matched accuracy; see core/study.py). Writes "
                    "study_<hash>.json. Without --factor it runs the default study, one study per factor: "
                    + "; ".join(f"{factor} {levels}" for factor, levels in DEFAULT_STUDY_SUITE)
                    + " (its cost from an empty store: docs/benchmarks.md).")
    add_sweep_options(study)
    for action in study._actions:  # a study's points need at least three seeds; few lambdas keep it affordable
        if action.dest == "seeds":
            action.default = DEFAULT_STUDY_SEEDS
            action.help = (f"comma-separated training seeds, at least 3, each {_range('seed')} (default: "
                           f"{_numbers(DEFAULT_STUDY_SEEDS)})")
        elif action.dest == "lambdas":
            action.default = DEFAULT_STUDY_LAMBDAS
            action.help = (f"comma-separated MID weights, each {_range('lambda')} (default: "
                           f"{_numbers(DEFAULT_STUDY_LAMBDAS)})")
    study.add_argument("--attack", choices=ATTACKS, default="miface",
                       help="inversion attack for every regime (default: miface; the factor 'attack' varies it)")
    study.add_argument("--factor", choices=tuple(STUDY_FACTORS),
                       help="the one setting varied across regimes (default: the default study's factors)")
    study.add_argument("--levels",
                       help="with --factor: comma-separated values of the factor, e.g. 8,64,256 for bottleneck, "
                            "miface,gmi for attack, false,true for predict_from_mu; a negative first level needs "
                            "'=': --levels=-0.1,0,0.1. Each number within its setting's range: "
                            + ", ".join(f"{factor} {LIMITS[limit]}" for factor, limit in STUDY_LIMITS.items()))
    add_panel_option(study)
    study.add_argument("--ship", action="store_true",
                       help="also copy each study and its first seed's reconstructions to assets/studies, where "
                            "the dashboard's Findings page shows it to every user")

    report = commands.add_parser(
        "report", help="write a comparison's or a study's plots (PNG, HTML) and table (CSV, Markdown) for slides",
        description="Reads a comparison or study file (default: the newest in the results folder) and writes "
                    "its plots (a comparison: the tradeoff per attack and the prediction spread; a study: each "
                    "regime's tradeoff), its table as CSV and Markdown, and its sentences into one folder.")
    report.add_argument("results_file", nargs="?", metavar="file",
                        help="a comparison_*.json or study_*.json file (default: the newest of either)")
    report.add_argument("--results", help=f"folder of results files (default: ${RESULTS_ENV}, else ./results)")
    report.add_argument("--out", default="report", help="folder to write the report into (default: ./report)")
    report.add_argument("--no-png", action="store_true",
                        help="skip the PNGs (drawing them needs Chrome or Chromium on this machine)")

    bench = commands.add_parser("benchmark", help="time the default sweep from an empty store, then stored",
                                description="Runs the default ORL (or LFW) sweep into a fresh temporary store, prints "
                                            "wall time per stage, peak memory and the figures, then times the "
                                            "same sweep again with everything stored, in a new process.")
    bench.add_argument("--data", help=f"folder holding the datasets (default: ${DATA_ENV}, else ./data)")
    add_executor_options(bench)
    bench.add_argument("--lambdas", type=_bounded_list("lambda", "0,0.01,0.1,1"),
                       help=f"time a sweep over these lambdas, each {_range('lambda')}, instead of the default grid "
                            "(e.g. 0,0.01,0.1,1)")
    bench.add_argument("--keep", help="an empty (or new) folder to keep the benchmark's store and results in; "
                                      "by default they go to a temporary folder that is deleted")
    bench.add_argument("--attacks", action="store_true",
                       help="also time GMI and the inversion network on the lambda = 0 model (about 2 minutes)")
    bench.add_argument("--dataset", choices=("orl", "lfw"), default="orl",
                       help="orl: the default ORL sweep under MI-Face; lfw: the default LFW sweep (8 lambdas, one "
                            "seed) under all three attacks, with the shipped judge and prior (about 30 minutes)")
    bench.add_argument("--dp", action="store_true",
                       help="time only the default comparison's four DP-SGD targets on ORL, from an empty store "
                            "(about 4 minutes)")
    bench.add_argument("--gmi-recipe", choices=GMI_RECIPES,
                       help="time only GMI's fast or paper recipe for --steps steps on ORL's 40 identities (all "
                            "restarts at once, deployed view, an untrained target of the default architecture: a "
                            "step costs the same whatever the weights) and print the seconds per step")
    bench.add_argument("--steps", type=_bounded("attack_steps"), default=20,
                       help=f"with --gmi-recipe: the steps to time ({_range('attack_steps')}; default: 20)")
    bench.add_argument("--study", action="store_true",
                       help="time only the default regime study (`python -m core study`) from an empty store, "
                            "then stored (about 42 minutes)")

    zoo = commands.add_parser("zoo", help="rebuild the default model zoo in assets/zoo from the default sweeps",
                              description="Runs (or reuses from the store) the default sweep of each dataset in "
                                          "core/zoo.py's ZOO_DATASETS under every attack and exports their models "
                                          "and reconstructions, compactly, to assets/zoo for the dashboard.")
    add_common(zoo)
    zoo.add_argument("--out", help=f"folder for the sweep's results JSON (default: ${RESULTS_ENV}, else ./results)")
    zoo.add_argument("--fresh", action="store_true",
                     help="export every sweep anew from the store, also those the zoo already ships intact (kept "
                          "as they are by default: the store may no longer hold the full-precision models)")

    prior = commands.add_parser("prior", help="train (or reuse) the GAN prior and ship it in assets/store",
                                description="Trains the attacker's GAN on LFW's public faces (about 12 minutes on 2 "
                                            "CPU cores), or reuses it from the store, and exports it in half "
                                            "precision to assets/store, where every user's engine finds it.")
    add_common(prior)
    prior.add_argument("--dataset", choices=DATASETS, default="lfw",
                       help="train the prior framed for this private dataset's photos (default: lfw)")

    judge = commands.add_parser("judge", help="train (or reuse) a dataset's default judge and ship it in assets/store",
                                description="Trains the default evaluation classifier of a private dataset (LFW's: "
                                            "about 30 minutes on 2 CPU cores), or reuses it from the store, and "
                                            "copies it in half precision (checked: the share of the photos it "
                                            "still names alike is recorded) to assets/store, where every user's "
                                            "engine finds it.")
    add_common(judge)
    judge.add_argument("--dataset", choices=("orl", "lfw"), default="lfw", help="the private dataset (default: lfw)")
    judge.add_argument("--panel", action="store_true",
                       help="ship the whole judge panel: the residual net and PCA + LDA besides the default judge")

    fetch = commands.add_parser(
        "fetch", help="download a dataset from its public source, verify it and lay it out as MID Lab reads it",
        description="Downloads each archive over HTTPS (resuming a partial download), checks its pinned SHA-256, "
                    "and writes the dataset into the data folder with a PROVENANCE.md (sources, licence, "
                    "citation): orl (the AT&T faces), lfw (LFW funneled, in grayscale, split at >= 20 images per "
                    "person), mnist (the four IDX files), olivetti (the ORL people at 64x64). A dataset "
                    "already in place is checked and left alone. See docs/fetch.md.")
    fetch.add_argument("dataset", choices=(*FETCHABLE, "all"),
                       help=f"the dataset; all: {', '.join(FETCH_ALL)}")
    fetch.add_argument("--data", help=f"folder to write the dataset into (default: ${DATA_ENV}, else ./data)")
    fetch.add_argument("--quiet", action="store_true", help="no progress bar")
    olivetti = commands.add_parser("fetch-olivetti", help="the former name of `fetch olivetti`")
    olivetti.add_argument("--data", help=f"folder to write olivetti/ into (default: ${DATA_ENV}, else ./data)")
    return parser


def sweep_config(args: argparse.Namespace) -> SweepConfig:
    """The dataset's default sweep (core.presets.sweep_defaults) with the options given on the command line."""
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
    gmi = with_gmi_recipe(base.attack, args.gmi_recipe).gmi
    attack = dataclasses.replace(base.attack, attack=getattr(args, "attack", "miface"), view=args.view,
                                 public=args.public, gmi=dataclasses.replace(gmi, latent_bound=args.latent_bound),
                                 inversion=dataclasses.replace(base.attack.inversion, top_k=args.top_k))
    return SweepConfig(target=target, lambdas=args.lambdas, seeds=args.seeds, attack=attack,
                       evaluator=dataclasses.replace(base.evaluator, data=data,
                                                     photometric=args.judge_photometric))


def engine_for(args: argparse.Namespace) -> Engine:
    """The engine over the --store and --data folders, with a progress line unless --quiet."""
    from core.engine import Engine
    from core.runtime import ProgressLine, pick_device
    from core.store import Store

    quiet = getattr(args, "quiet", False)
    return Engine(Store(store_root(args.store)), data_root(args.data), pick_device(),
                  progress=(lambda *a: None) if quiet else ProgressLine())


def executor_for(args: argparse.Namespace) -> Executor:
    """The --executor: this process, or Ray (joined at once, so an unreachable address stops before any work)."""
    import os

    from core.executor import LocalExecutor, RayExecutor

    if args.executor == "local":
        return LocalExecutor()
    executor = RayExecutor(args.ray_address or os.environ.get("RAY_ADDRESS"), args.cpus_per_task)
    executor.start()
    return executor


def command_sweep(args: argparse.Namespace) -> int:
    from core.panel import format_panel
    from core.results import results_path, typed_results
    from core.sweep import format_table, run_sweep

    config = sweep_config(args)
    executor = executor_for(args)
    engine = engine_for(args)
    out = results_root(args.out)
    results = run_sweep(config, engine, out, executor=executor, panel=args.panel)
    typed = typed_results(results)
    print(format_table(typed))
    if args.panel:
        print(format_panel(results))
    reused = sum(run.reused.target for run in typed.runs)
    print(f"{len(typed.runs)} runs ({reused} models reused) in {results['wall_s']:.1f}s; "
          f"results: {results_path(out, typed.config_hash)}")
    return 0


def command_panel(args: argparse.Namespace) -> int:
    from core.gallery import MANIFEST, ZOO_DIR
    from core.panel import add_panel_to_file, add_panel_to_zoo, format_panel

    if args.zoo:
        for results in add_panel_to_zoo(engine_for(args))["sweeps"]:
            print(f"{results['data']['dataset']} {results['config']['attack']['attack']} ({results['config_hash']}):")
            print(format_panel(results))
        print(f"panel figures added to {ZOO_DIR / MANIFEST}")
        return 0
    from core.compare import format_comparison
    from core.results import typed_results
    from core.study import format_study

    path = Path(args.results)
    results = add_panel_to_file(path, engine_for(args))
    text = {"sweep": lambda: format_panel(results), "comparison": lambda: format_comparison(typed_results(results)),
            "study": lambda: format_study(typed_results(results))}
    print(text[results["kind"]]())
    print(f"panel figures added to {path}")
    return 0


def command_compare(args: argparse.Namespace) -> int:
    from core.compare import comparison_path, format_comparison, run_comparison, ship
    from core.results import COMPARISONS_DIR, typed_results

    model, train = dp_defaults()
    train = dataclasses.replace(train, privacy=dataclasses.replace(train.privacy, max_grad_norm=args.clip))
    config = ComparisonConfig(sweep=sweep_config(args), attacks=args.attacks,
                              noise_multipliers=args.noise_multipliers, dp_model=model, dp_train=train)
    executor = executor_for(args)
    engine = engine_for(args)
    out = results_root(args.out)
    results = run_comparison(config, engine, out, executor=executor, panel=args.panel)
    typed = typed_results(results)
    print(format_comparison(typed))
    print(f"{len(typed.points)} points in {results['wall_s']:.1f}s; results: {comparison_path(out, typed.config_hash)}")
    if args.ship:
        print(f"shipped: {ship(results, COMPARISONS_DIR)}")
    return 0


def study_config(args: argparse.Namespace, factor: str | None = None, levels: str | None = None) -> StudyConfig:
    """The study the command line describes: the sweep options as its fixed settings, one factor's levels
    (--factor and --levels unless given)."""
    factor, levels = factor or args.factor, levels or args.levels
    return StudyConfig(base=sweep_config(args), factor=factor, levels=parse_levels(factor, levels))


def study_configs(args: argparse.Namespace) -> list[StudyConfig]:
    """The one study of --factor and --levels, or without --factor the default study's (DEFAULT_STUDY_SUITE)."""
    if (args.factor is None) != (args.levels is None):
        raise ConfigError("give --factor and --levels together, or neither for the default study")
    if args.factor:
        return [study_config(args)]
    return [study_config(args, factor, levels) for factor, levels in DEFAULT_STUDY_SUITE]


def command_study(args: argparse.Namespace) -> int:
    from core.results import STUDIES_DIR, typed_results
    from core.study import format_study, run_study, ship, study_path
    from core.study_command import study_command

    configs = study_configs(args)
    executor = executor_for(args)
    engine = engine_for(args)
    out = results_root(args.out)
    for config in configs:
        results = run_study(config, engine, out, executor=executor, panel=args.panel)
        typed = typed_results(results)
        print(format_study(typed))
        points = [point for regime in typed.regimes for point in regime.points]
        reused = sum(point.reused.target for point in points)
        print(f"{len(points)} points ({reused} models reused) in {results['wall_s']:.1f}s; "
              f"results: {study_path(out, typed.config_hash)}")
        print(f"this study alone: {study_command(config)[0]}")
        if args.ship:
            print(f"shipped: {ship(results, STUDIES_DIR)}")
    return 0


def command_report(args: argparse.Namespace) -> int:
    from core.errors import SchemaError
    from core.report import write_report
    from core.results import list_results, read_typed

    kinds = ("comparison", "study")
    folder = results_root(args.results)
    newest = sorted((path for kind in kinds for path in list_results(folder, kind)),
                    key=lambda path: path.stat().st_mtime, reverse=True)
    path = Path(args.results_file) if args.results_file else next(iter(newest), None)
    if path is None:
        raise ConfigError(f"no comparison or study file in {folder}: run `python -m core compare` or "
                          "`python -m core study` first")
    try:
        results = read_typed(path, kinds)
    except SchemaError as error:
        raise ConfigError(str(error)) from None
    for written in write_report(results, Path(args.out), png=not args.no_png):
        print(f"wrote {written}")
    return 0


def command_benchmark(args: argparse.Namespace) -> int:
    from core.benchmark import gmi_step_benchmark, run_benchmark

    if args.gmi_recipe:
        gmi_step_benchmark(data_root(args.data), args.gmi_recipe, args.steps)
        return 0
    return run_benchmark(data_root(args.data), Path(args.keep) if args.keep else None, args.attacks, args.dp,
                         args.study, args.dataset, executor_for(args), args.lambdas)


def command_zoo(args: argparse.Namespace) -> int:
    from core.gallery import ZOO_DIR
    from core.zoo import build_zoo

    engine = engine_for(args)
    manifest = build_zoo(engine, results_root(args.out), fresh=args.fresh)
    size = sum((ZOO_DIR / name).stat().st_size for name in manifest["zoo"]["files"])
    runs = [run for sweep in manifest["sweeps"] for run in sweep["runs"]]
    agreement = min(run["half_precision_agreement"] for run in runs)
    print(f"wrote {ZOO_DIR}: {len(manifest['sweeps'])} sweeps, {len(runs)} runs, {len(manifest['zoo']['files'])} "
          f"files, {size / 2**20:.1f} MiB; half-precision weights agree with full precision on >= {agreement:.1%} "
          "of test predictions")
    return 0


def command_prior(args: argparse.Namespace) -> int:
    from core.metrics import half_precision
    from core.shipped import SHIPPED
    from core.stored_config import config_hash

    engine = engine_for(args)
    config = framed_for(args.dataset, AttackConfig()).prior
    gan, record, reused = engine.prior(config)
    half = half_precision(gan.state_dict())
    folder = SHIPPED.save("priors", config_hash(config), half, {**record, "weights_dtype": "float16"})
    print(f"prior {config_hash(config)} ({'reused' if reused else 'trained'}; {record['timings']['train_s']:.0f}s "
          f"of training on {record['images']} public faces) -> {folder} ({folder_mib(folder):.1f} MiB)")
    return 0


def folder_mib(folder: Path) -> float:
    """The size of a shipped store entry, in MiB."""
    return sum(f.stat().st_size for f in folder.iterdir()) / 2**20


def command_judge(args: argparse.Namespace) -> int:
    from core.config import panel_judges
    from core.data import PreparedData
    from core.metrics import half_precision, half_precision_agreement
    from core.models import judge_net
    from core.shipped import SHIPPED
    from core.stored_config import config_hash

    engine = engine_for(args)
    default = sweep_defaults(args.dataset).evaluator
    data = PreparedData.load(default.data, engine.data_root)
    for config in panel_judges(default) if args.panel else (default,):
        key = config_hash(config)
        shipped = SHIPPED.record("evaluators", key)
        if shipped is not None and "half_precision_agreement" in shipped:
            print(f"judge {config.arch} {key} already ships in half precision (held-out accuracy "
                  f"{shipped['heldout_accuracy']['value']:.3f})")
            continue
        judge, record, reused = engine.evaluator(config, data)
        half = half_precision(judge.state_dict())
        agreement = half_precision_agreement(judge, half, judge_net(data.images.num_classes, config),
                                             data.images.tensors()[0], engine.device)
        folder = SHIPPED.save("evaluators", key, half, {**record, "half_precision_agreement": agreement})
        seconds = sum(record["timings"].values())
        print(f"judge {config.arch} {key} ({'reused' if reused else 'trained'}; {seconds:.0f}s of training; "
              f"held-out accuracy {record['heldout_accuracy']['value']:.3f}; half precision names "
              f"{agreement:.1%} of the photos as it did) -> {folder} ({folder_mib(folder):.1f} MiB)")
    return 0


def command_fetch(args: argparse.Namespace) -> int:
    """Fetch one dataset, or each of them (a failure is reported and the others still fetched)."""
    from core.fetch import SOURCES, fetch

    if args.command == "fetch-olivetti":
        print("note: `fetch-olivetti` is now `python -m core fetch olivetti`", file=sys.stderr)
        args.dataset, args.quiet = "olivetti", False
    root = data_root(args.data)
    failed = []
    for name in FETCH_ALL if args.dataset == "all" else (args.dataset,):
        try:
            root.mkdir(parents=True, exist_ok=True)
            print(fetch(SOURCES[name], root, None if args.quiet else sys.stderr))
        except (DataError, OSError) as error:  # OSError: the data folder cannot be written
            print(f"error: {name}: {error}", file=sys.stderr)
            failed.append(name)
    return 1 if failed else 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "sweep": command_sweep, "panel": command_panel, "compare": command_compare, "study": command_study,
    "report": command_report, "benchmark": command_benchmark, "zoo": command_zoo, "prior": command_prior,
    "judge": command_judge, "fetch": command_fetch, "fetch-olivetti": command_fetch,
}


def check_outputs(args: argparse.Namespace) -> None:
    """Refuse, before any work, an output folder that cannot be written (a file in the way, a read-only disk)."""
    folders = [("--store", store_root(args.store))] if hasattr(args, "store") else []
    if args.command == "report":
        folders.append(("--out", Path(args.out)))
    elif hasattr(args, "out"):
        folders.append(("--out", results_root(args.out)))
    for option, folder in folders:
        if problem := unwritable(folder):
            raise ConfigError(f"{option} {folder}: {problem}; give a folder that can be written")


# The commands that never load torch; every other one does (see main).
WITHOUT_TORCH = ("fetch", "fetch-olivetti")


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s")
    try:
        check_outputs(args)
        return COMMANDS[args.command](args)
    except ConfigError as error:  # a setting: the usage error argparse itself exits with
        parser.exit(2, f"error: {error}\n")
    except MidLabError as error:
        parser.exit(1, f"error: {error}\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; Ctrl-C at any moment gives one line and exit status 130 (see core/interrupts.py)."""
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command not in WITHOUT_TORCH:
            # torch's import runs C++ (pybind11) that aborts the process when Ctrl-C reaches it as an exception:
            # the command's own lazy import would come after unwind(), so import it while Ctrl-C leaves at once.
            import torch  # noqa: F401
        interrupts.unwind()
        return run(args, parser)
    except KeyboardInterrupt:
        interrupts.leave()


if __name__ == "__main__":
    sys.exit(main())
