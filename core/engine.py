"""Train-or-load for targets and evaluators, attack-or-load for reconstructions: each keyed by config hash.

Asking for something already in the store trains nothing; everything computed is stored with its config,
hash, metrics, library versions, device, timings and the fingerprint of the data it was computed from. A
stored entry is served only when its record names its key and the data at hand (core.store.Expected): a
dataset whose photos changed gets its models, judges and attacks recomputed, each reported with why.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from core import gallery
from core.attack_config import AttackConfig, PriorConfig
from core.attack_inputs import PROVIDERS
from core.attacks import REGISTRY, AttackInputs, Reconstruction, attacker_query
from core.attacks.base import defended, reconstructions_png
from core.config import EvaluatorConfig, TargetConfig, defense_label
from core.data import PreparedData, lfw_box, load_lfw_public, public_fingerprint
from core.entries import NAMED_BY, AttackRun, PublicMean, mean_face, new_record, public_faces, uses_lfw_public
from core.metrics import PrivateFeatures, heldout_accuracy, real_image_distance, reconstruction_scores, target_metrics
from core.models import TargetNet, judge_net
from core.prior import GAN, train_gan
from core.reconstruction_shapes import reconstruction_error
from core.runtime import Timings, seed_everything
from core.shipped import Shipped
from core.store import FINGERPRINT, Expected, Store
from core.stored_config import config_hash, to_dict
from core.train import Callback, Trainer, TrainerConfig, fit_judge, mid_objective

# (what is happening, steps done, steps in all): how the engine reports progress to a CLI bar or a UI.
Progress = Callable[[str, int, int], None]
CHECKPOINT = "checkpoint.safetensors"  # an unfinished attack's state, in its entry's folder until it is stored


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
    _private_features: PrivateFeatures = field(default_factory=PrivateFeatures, repr=False)  # shared by its attacks

    @functools.cached_property
    def public_fingerprint(self) -> str | None:
        """The attacker's public faces' fingerprint (core.data.public_fingerprint), read once per engine, that is
        per command or dashboard job (0.3 s for LFW's 10,210 files): photos changed while it runs are seen by the
        next one."""
        return public_fingerprint(self.data_root)

    # ---- targets -------------------------------------------------------------------------------------
    def target(self, config: TargetConfig, data: PreparedData) -> tuple[TargetNet, dict[str, Any], bool]:
        """The trained target for `config`: loaded when stored (third value True), else trained and stored."""
        key = config_hash(config)
        expected = self.expected("targets", data)

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

        def train() -> tuple[TargetNet, dict[str, Any]]:
            seed_everything(config.train.seed)
            model = TargetNet(data.images.num_classes, config.model, config.data.image_size)
            timings = Timings()
            label = f"train {defense_label(config)} seed={config.train.seed}"
            trainer = Trainer(model, mid_objective(config.train.mid_lambda, config.train.label_smoothing),
                              TrainerConfig.for_target(config.train),
                              on_epoch_end=[lambda r: self.progress(label, int(r["epoch"]), config.train.epochs),
                                            *self.epoch_callbacks])
            with timings.stage("train_s"):
                history = trainer.run(*data.train(), self.device)
            with timings.stage("evaluate_s"):
                test = target_metrics(model, config, data, self.device)
            record = new_record("target", config, key, expected, timings, self.device, class_names=data.images.names,
                                data=data.summary(), history=history, test=test, privacy=trainer.privacy)
            self.store.save_model("targets", key, model, record)
            return model.eval(), record

        (model, record), reused = self.store.get_or_compute("targets", key, load, train)
        return model, record, reused

    # ---- evaluators ----------------------------------------------------------------------------------
    def evaluator(self, config: EvaluatorConfig, data: PreparedData) -> tuple[nn.Module, dict[str, Any], bool]:
        """The judge for `config`: shipped in assets/, else from the store, else trained and stored. Its record
        holds its held-out accuracy (measured before it saw the held-out images) and the feature distance
        between real photos of the same person."""
        key = config_hash(config)
        expected = self.expected("evaluators", data)
        model = judge_net(data.images.num_classes, config)
        record = self.shipped.record("evaluators", key, expected, model)  # LFW's judge ships: 30 CPU minutes to train
        if record is not None:
            return model.to(self.device).eval(), record, True

        def load() -> tuple[nn.Module, dict[str, Any]] | None:
            record = self.store.load_model("evaluators", key, model, expected)
            return None if record is None else (model.to(self.device).eval(), record)

        def train() -> tuple[nn.Module, dict[str, Any]]:
            timings = Timings()
            if config.finetune_epochs:  # the judge of the training split, then a few epochs on every image
                judge, split, _ = self.evaluator(dataclasses.replace(config, finetune_epochs=0), data)
                with timings.stage("finetune_s"):
                    history = self._fit(judge, *data.images.tensors(), config, config.finetune_epochs, config.lr / 4,
                                        "all images", seed=config.seed + 1)
                fields = {**split, "history_finetune": history, "split_key": split["config_hash"]}
                timings = {**split["timings"], **timings}
            else:
                seed_everything(config.seed)
                judge = judge_net(data.images.num_classes, config)
                with timings.stage("train_s"):
                    history = self._fit(judge, *data.train(), config, config.epochs, config.lr, "training split",
                                        seed=config.seed)
                fields = {"data": data.summary(), "history": history,
                          "heldout_accuracy": heldout_accuracy(judge, *data.test(), self.device)}
            distance = real_image_distance(judge, *data.train(), *data.test(), self.device)
            record = new_record("evaluator", config, key, expected, timings, self.device,
                                **{**fields, "real_image_distance": distance})
            self.store.save_model("evaluators", key, judge, record)
            return judge.eval(), record

        (model, record), reused = self.store.get_or_compute("evaluators", key, load, train)
        return model, record, reused

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

    @property
    def shipped(self) -> Shipped:
        """What ships with MID Lab (assets/store, the zoo), served as stored entries of this engine's store."""
        return Shipped(self.store, self.device, self.zoo_dir)

    def _fit(self, judge: nn.Module, x: torch.Tensor, y: torch.Tensor, config: EvaluatorConfig, epochs: int,
             lr: float, label: str, seed: int) -> list[dict[str, float]]:
        def report(epoch: dict[str, float]) -> None:
            self.progress(f"train evaluator ({label})", int(epoch["epoch"]), epochs)

        return fit_judge(judge, x, y, config, epochs, lr, seed, self.device, on_epoch_end=[report])

    # ---- the attacker's prior -----------------------------------------------------------------------
    def prior(self, config: PriorConfig) -> tuple[GAN, dict[str, Any], bool]:
        """The GAN prior for `config`: from the store, else shipped in assets/, else trained on LFW's public
        faces and stored."""
        key = config_hash(config)
        expected = self.expected("priors")
        gan = GAN(config)
        record = self.shipped.record("priors", key, expected, gan)  # read-only: needs no lock (or a writable store)
        if record is not None:
            return gan.to(self.device).eval(), record, True

        def load() -> tuple[GAN, dict[str, Any]] | None:
            record = self.store.load_model("priors", key, gan, expected)
            return None if record is None else (gan.to(self.device).eval(), record)

        def train() -> tuple[GAN, dict[str, Any]]:
            faces = public_faces(self.data_root, config.image_size, limit=config.images, box=lfw_box(config.crop),
                                 fingerprint=expected.fingerprint["public"])
            seed_everything(config.seed)
            trained, timings = GAN(config), Timings()
            with timings.stage("train_s"):
                history = train_gan(trained, faces, self.device, on_epoch_end=[
                    lambda r: self.progress("train GAN prior", int(r["epoch"]), config.epochs),
                    *self.epoch_callbacks])
            record = new_record("prior", config, key, expected, timings, self.device, public="lfw_public",
                                images=len(faces), history=history)
            self.store.save_model("priors", key, trained, record)
            return trained.eval(), record

        (gan, record), reused = self.store.get_or_compute("priors", key, load, train)
        return gan, record, reused

    # ---- attacks -------------------------------------------------------------------------------------
    def public_mean(self, config: PublicMean) -> tuple[torch.Tensor, dict[str, Any], bool]:
        """The mean of the attacker's first public faces (1, H, W): from the store, else computed and stored."""
        key = config_hash(config)
        expected = self.expected("public_mean")
        loaded = self.store.load("public_mean", key, expected)
        if loaded is not None:
            return loaded[0]["image"], loaded[1], True
        faces = load_lfw_public(self.data_root, config.image_size, limit=config.images)
        image = mean_face(faces)
        record = {"kind": "public_mean", "config": to_dict(config), "config_hash": key, FINGERPRINT: expected.known,
                  "images": len(faces)}
        self.store.save("public_mean", key, {"image": image}, record)
        return image, record, False

    def attack(self, target: TargetNet, target_key: str, attack: AttackConfig, evaluator: nn.Module,
               evaluator_key: str, data: PreparedData) -> tuple[Reconstruction, dict[str, Any], bool]:
        """Invert every identity of `target` as `attack` says, score with `evaluator`; stored by hash."""
        key = config_hash(AttackRun(target_key, evaluator_key, attack))
        expected = self.expected("attacks", data, attack)

        def load() -> tuple[Reconstruction, dict[str, Any]] | None:
            loaded = (self.store.load("attacks", key, expected)
                      or self.shipped.attack(key, target_key, attack, evaluator_key, expected))
            return None if loaded is None else (Reconstruction.from_tensors(loaded[0]), loaded[1])

        def run() -> tuple[Reconstruction, dict[str, Any]]:
            timings = Timings()
            checkpoint = self.store.path("attacks", key) / CHECKPOINT
            result, details = self._invert(target, attack, data, timings, checkpoint)
            with timings.stage("score_s"):
                private = self._private_features.of(evaluator, evaluator_key, data, self.device)
                scores = reconstruction_scores(evaluator, result, torch.arange(data.images.num_classes), private,
                                               data.train()[1], self.device)
            record = new_record("attack", attack, key, expected, timings, self.device, target_key=target_key,
                                evaluator_key=evaluator_key, scores=scores, **details,
                                target_confidence=float(result.target_confidence[-1].mean()))
            self.store.save("attacks", key, result.tensors(), record,
                            files={"reconstructions.png": reconstructions_png(result.images)})
            checkpoint.unlink(missing_ok=True)
            return result, record

        (result, record), reused = self.store.get_or_compute("attacks", key, load, run)
        return result, record, reused

    def _invert(self, target: TargetNet, attack: AttackConfig, data: PreparedData, timings: Timings,
                checkpoint: Path) -> tuple[Reconstruction, dict[str, Any]]:
        """Run the configured attack (core.attacks.REGISTRY) with the inputs it needs, each provided in its own
        timed stage; also returns what its record adds. A long attack (GMI's paper recipe) keeps its state in
        `checkpoint` and continues from it."""
        spec, inputs, details = REGISTRY[attack.attack], {}, {}
        for need in spec.needs:
            stage, provide = PROVIDERS[need]
            with timings.stage(stage) if stage else contextlib.nullcontext():
                inputs[need], added = provide(self, attack, data)
            details.update(added)
        labels = torch.arange(data.images.num_classes, device=self.device)
        query = defended(attacker_query(target, attack.view, attack.view_samples), attack.output)

        def on_step(done: int, total: int) -> None:
            self.progress(f"{attack.attack} attack ({attack.view} view)", done, total)

        seed_everything(spec.seed(attack))
        with timings.stage("attack_s"):
            result, added = spec.run(AttackInputs(query, labels, attack, on_step, checkpoint, **inputs))
        return result.cpu(), {**added, **details}
