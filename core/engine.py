"""Train-or-load for targets and evaluators, attack-or-load for reconstructions: each keyed by config hash.

Asking for something already in the store trains nothing; everything computed is stored with its config,
hash, metrics, library versions, device, timings and the fingerprint of the data it was computed from. A
stored entry is served only when its record names its key and the data at hand (core.store.Expected): a
dataset whose photos changed gets its models, judges and attacks recomputed, each reported with why.
The engine only decides; what computes each kind of entry is in core.makers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from core import gallery, makers
from core.attack_config import AttackConfig, PriorConfig
from core.attacks import Reconstruction
from core.config import EvaluatorConfig, TargetConfig
from core.data import PreparedData, public_fingerprint
from core.entries import NAMED_BY, AttackRun, PublicMean, new_record, uses_lfw_public
from core.metrics import PrivateFeatures, target_metrics
from core.models import TargetNet, judge_net
from core.prior import GAN
from core.reconstruction_shapes import reconstruction_error
from core.shipped import Shipped
from core.store import Expected, Store
from core.stored_config import config_hash
from core.train import Callback

# (what is happening, steps done, steps in all): how the engine reports progress to a CLI bar or a UI.
Progress = Callable[[str, int, int], None]
CHECKPOINT = "checkpoint.safetensors"  # an unfinished attack's state, in its entry's folder until it is stored
T = TypeVar("T")
M = TypeVar("M", bound=nn.Module)


def _quiet(message: str, done: int, total: int) -> None:
    return None


@dataclass
class Engine:
    store: Store
    data_root: Path
    device: torch.device
    progress: Progress = _quiet
    epoch_callbacks: list[Callback] = field(default_factory=list)  # e.g. the dashboard's live curves
    # The shipped zoo: its models and attack results count as stored (core.shipped).
    zoo_dir: Path = field(default_factory=lambda: gallery.ZOO_DIR)
    private_features: PrivateFeatures = field(default_factory=PrivateFeatures, repr=False)  # shared by its attacks

    @functools.cached_property
    def public_fingerprint(self) -> str | None:
        """The attacker's public faces' fingerprint (core.data.public_fingerprint), read once per engine, that is
        per command or dashboard job (0.3 s for LFW's 10,210 files): photos changed while it runs are seen by the
        next one."""
        return public_fingerprint(self.data_root)

    @property
    def shipped(self) -> Shipped:
        """What ships with MID Lab (assets/store, the zoo), served as stored entries of this engine's store."""
        return Shipped(self.store, self.device, self.zoo_dir)

    def target(self, config: TargetConfig, data: PreparedData) -> tuple[TargetNet, dict[str, Any], bool]:
        """The trained target for `config`: loaded when stored (third value True), else trained and stored."""
        key, expected = config_hash(config), self.expected("targets", data)

        def load() -> tuple[TargetNet, dict[str, Any]] | None:
            model = TargetNet(data.images.num_classes, config.model, config.data.image_size)
            record = (self.store.load_model("targets", key, model, expected)
                      or self.shipped.target(key, model, config, data, expected))
            if record is None:
                return None
            model = model.to(self.device).eval()
            if "balanced_accuracy" not in record["test"]["deployed"]:  # stored by an older version: complete it
                record = {**record, "test": target_metrics(model, config, data, self.device)}
            return model, record

        return self._stored("targets", key, expected, load, lambda: makers.train_target(self, config, data))

    def evaluator(self, config: EvaluatorConfig, data: PreparedData) -> tuple[nn.Module, dict[str, Any], bool]:
        """The judge for `config`: shipped in assets/ (LFW's: 30 CPU minutes to train), else from the store, else
        trained and stored. Its record holds its held-out accuracy and the feature distance between real photos
        of the same person."""
        return self._model("evaluators", config_hash(config), self.expected("evaluators", data),
                           judge_net(data.images.num_classes, config),
                           lambda: makers.train_judge(self, config, data))

    def prior(self, config: PriorConfig) -> tuple[GAN, dict[str, Any], bool]:
        """The GAN prior for `config`: shipped in assets/, else from the store, else trained on LFW's public faces
        and stored."""
        return self._model("priors", config_hash(config), self.expected("priors"), GAN(config),
                           lambda: makers.train_prior(self, config))

    def public_mean(self, config: PublicMean) -> tuple[torch.Tensor, dict[str, Any], bool]:
        """The mean of the attacker's first public faces (1, H, W): from the store, else computed and stored."""
        key, expected = config_hash(config), self.expected("public_mean")

        def load() -> tuple[torch.Tensor, dict[str, Any]] | None:
            loaded = self.store.load("public_mean", key, expected)
            return None if loaded is None else (loaded[0]["image"], loaded[1])

        return self._stored("public_mean", key, expected, load, lambda: makers.mean_public_face(self, config))

    def attack(self, target: TargetNet, target_key: str, attack: AttackConfig, evaluator: nn.Module,
               evaluator_key: str, data: PreparedData) -> tuple[Reconstruction, dict[str, Any], bool]:
        """Invert every identity of `target` as `attack` says, score with `evaluator`; stored by hash."""
        key = config_hash(AttackRun(target_key, evaluator_key, attack))
        expected = self.expected("attacks", data, attack)

        def load() -> tuple[Reconstruction, dict[str, Any]] | None:
            loaded = (self.store.load("attacks", key, expected)
                      or self.shipped.attack(key, target_key, attack, evaluator_key, expected))
            return None if loaded is None else (Reconstruction.from_tensors(loaded[0]), loaded[1])

        return self._stored("attacks", key, expected, load, lambda: makers.run_attack(
            self, target, target_key, attack, evaluator, evaluator_key, data,
            self.store.path("attacks", key) / CHECKPOINT))

    def expected(self, kind: str, data: PreparedData | None = None, attack: AttackConfig | None = None) -> Expected:
        """What a stored entry of `kind` must be to be served (core.store.Expected): named by its key, made
        from `data` (judges, targets, attacks) and from the public faces (priors, the mean face, and the
        `attack`s that learn from them); an attack's tensors also of the names, dtypes and shapes it implies."""
        private = {"private": data.fingerprint} if data is not None else {}
        public = {"public": self.public_fingerprint}
        uses_public = kind in ("priors", "public_mean") or (kind == "attacks" and uses_lfw_public(attack))
        fingerprint = {**private, **(public if uses_public else {})}
        if kind != "attacks":
            return Expected(NAMED_BY[kind], fingerprint)
        # What a Reconstruction of this attack on `data` holds: one image per identity at the data's size, and
        # every restart's image only for GMI's paper recipe (core.attacks.gmi).
        restarts = attack.gmi.restarts if attack.attack == "gmi" and attack.gmi.recipe == "paper" else 0
        return Expected(NAMED_BY[kind], fingerprint, functools.partial(
            reconstruction_error, people=data.images.num_classes, image_size=data.config.image_size,
            restarts=restarts))

    def _model(self, kind: str, key: str, expected: Expected, model: M,
               make: Callable[[], makers.Made[M]]) -> tuple[M, dict[str, Any], bool]:
        """`model` filled with the weights shipped in assets/ (read-only: needs no lock, nor a writable store),
        else stored, else made and stored."""
        record = self.shipped.record(kind, key, expected, model)
        if record is not None:
            return model.to(self.device).eval(), record, True

        def load() -> tuple[M, dict[str, Any]] | None:
            record = self.store.load_model(kind, key, model, expected)
            return None if record is None else (model.to(self.device).eval(), record)

        return self._stored(kind, key, expected, load, make)

    def _stored(self, kind: str, key: str, expected: Expected, load: Callable[[], tuple[T, dict[str, Any]] | None],
                make: Callable[[], makers.Made[T]]) -> tuple[T, dict[str, Any], bool]:
        """`load()`'s entry (third value True), else `make()`'s, stored with the record every entry holds, under
        the entry's lock (core.store.Store.get_or_compute): one process computes it, the others wait and load."""
        def compute() -> tuple[T, dict[str, Any]]:
            made = make()
            # A record's kind is its store kind in the singular ("targets" -> "target"; "public_mean" stays).
            record = new_record(kind.removesuffix("s"), made.config, key, expected, made.timings, self.device,
                                **made.fields)
            self.store.save(kind, key, made.tensors, record, files=made.files)
            for path in made.scratch:  # kept until now: a process killed before the save continues from it
                path.unlink(missing_ok=True)
            return made.value, record

        (value, record), reused = self.store.get_or_compute(kind, key, load, compute)
        return value, record, reused
