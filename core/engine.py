"""Train-or-load for targets and evaluators, attack-or-load for reconstructions: each keyed by config hash.

Asking for something already in the store trains nothing; everything computed is stored with its config,
hash, metrics, library versions, device and timings.
"""

from __future__ import annotations

import dataclasses
import functools
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from core.attacks import Reconstruction, attacker_query, run_gmi, run_inversion, run_miface
from core.attacks.base import Query, defended, to_uint8
from core.config import (
    AttackConfig,
    ConfigError,
    EvaluatorConfig,
    PriorConfig,
    TargetConfig,
    config_hash,
    to_dict,
)
from core.data import LFW_FACE_BOX, PreparedData, lfw_box, load_lfw_public
from core.gallery import tile
from core.metrics import (
    attack_scores,
    embed_all,
    log_probs,
    prediction_metrics,
    real_image_distance,
    wilson_interval,
    with_restart_scores,
)
from core.models import FisherfacesJudge, TargetNet, judge_net
from core.prior import GAN, train_gan
from core.runtime import Timings, environment, seed_everything, timestamp
from core.store import Store
from core.train import Callback, Trainer, TrainerConfig, cross_entropy_objective, mid_objective

# (what is happening, steps done, steps in all): how the engine reports progress to a CLI bar or a UI.
Progress = Callable[[str, int, int], None]
CHECKPOINT = "checkpoint.safetensors"  # an unfinished attack's state, in its entry's folder until it is stored
PUBLIC_MEAN_IMAGES = 2000  # public faces averaged for MI-Face's start; more changes the mean very little
# Priors (half-precision weights) and LFW's judge that ship with MID Lab, in the store's own format, so no user
# waits for them.
SHIPPED = Store(Path(__file__).resolve().parent.parent / "assets" / "store")


def _quiet(message: str, done: int, total: int) -> None:
    return None


def deployed_mode(config: TargetConfig) -> str:
    """How the deployed target answers: its configured mode for a MID head; a linear head has only one."""
    return config.model.predict_mode if config.model.head == "mid" else "mu"


def defense_label(config: TargetConfig) -> str:
    """How a target is defended, in a few words: 'lambda=0.01', 'DP-SGD noise=1', 'no defense'."""
    if config.train.privacy.enabled:
        return f"DP-SGD noise={config.train.privacy.noise_multiplier:g}"
    return f"lambda={config.train.mid_lambda:g}" if config.model.head == "mid" else "no defense"


@dataclass
class Engine:
    store: Store
    data_root: Path
    device: torch.device
    progress: Progress = _quiet
    epoch_callbacks: list[Callback] = field(default_factory=list)  # e.g. the dashboard's live curves
    # The judge's embeddings of the private training photos, by (judge key, data hash): every attack scored by
    # one judge on one dataset measures distances to the same photos (6 s per attack for LFW's judge).
    _private_features: dict[tuple[str, str], torch.Tensor] = field(default_factory=dict, repr=False)

    # ---- targets -------------------------------------------------------------------------------------
    def target(self, config: TargetConfig, data: PreparedData) -> tuple[TargetNet, dict[str, Any], bool]:
        """The trained target for `config`: loaded when stored (third value True), else trained and stored."""
        key = config_hash(config)
        with self.store.lock("targets", key):  # another process may be computing it: wait, then load
            model = TargetNet(data.images.num_classes, config.model, config.data.image_size)
            record = self.store.load_model("targets", key, model)
            if record is not None:
                model = model.to(self.device).eval()
                if "balanced_accuracy" not in record["test"]["deployed"]:  # stored by an older version: complete it
                    record = {**record, "test": self.target_metrics(model, config, data)}
                return model, record, True
            seed_everything(config.train.seed)
            model = TargetNet(data.images.num_classes, config.model, config.data.image_size)
            timings = Timings()
            train_x, train_y = data.train()
            label = f"train {defense_label(config)} seed={config.train.seed}"
            objective = mid_objective(config.train.mid_lambda, config.train.label_smoothing)
            trainer = Trainer(model, objective, TrainerConfig(
                epochs=config.train.epochs, batch_size=config.train.batch_size, lr=config.train.lr,
                weight_decay=config.train.weight_decay, augment_shift=config.train.augment_shift,
                photometric=config.train.photometric, seed=config.train.seed, privacy=config.train.privacy,
            ), on_epoch_end=[lambda r: self.progress(label, int(r["epoch"]), config.train.epochs),
                             *self.epoch_callbacks])
            with timings.stage("train_s"):
                history = trainer.run(train_x, train_y, self.device)
            with timings.stage("evaluate_s"):
                test = self.target_metrics(model, config, data)
            record = {
                "kind": "target", "config": to_dict(config), "config_hash": key, "class_names": data.images.names,
                "data": data.summary(), "history": history, "test": test, "privacy": trainer.privacy,
                "environment": environment(self.device), "timings": dict(timings), "created": timestamp(),
            }
            self.store.save_model("targets", key, model, record)
            return model.eval(), record, False

    def target_metrics(self, model: TargetNet, config: TargetConfig, data: PreparedData) -> dict[str, Any]:
        """Test accuracy and prediction spread in every prediction mode; 'deployed' is the configured one."""
        test_x, test_y = data.test()
        modes = ("sample", "mean", "mu") if config.model.head == "mid" else ("mu",)
        by_mode = {}
        for mode in modes:
            seed_everything(config.train.seed)  # the 'sample' and 'mean' answers are random: make them repeatable
            by_mode[mode] = prediction_metrics(log_probs(model, test_x, self.device, mode=mode), test_y)
        deployed = deployed_mode(config)
        return {"deployed_mode": deployed, "deployed": by_mode[deployed], "by_mode": by_mode}

    def prediction_spread(self, model: TargetNet, config: TargetConfig, data: PreparedData) -> dict[str, list[float]]:
        """Per test image, the deployed model's top-1 confidence and entropy (nats): the paper's picture of how
        a defense spreads predictions, as distributions rather than means."""
        test_x, _ = data.test()
        seed_everything(config.train.seed)
        log_p = log_probs(model, test_x, self.device, mode=deployed_mode(config))
        entropy = -(log_p.exp() * log_p).sum(1)
        return {"confidence": [round(v, 4) for v in log_p.max(1).values.exp().tolist()],
                "entropy": [round(v, 4) for v in entropy.tolist()]}

    # ---- evaluators ----------------------------------------------------------------------------------
    def evaluator(self, config: EvaluatorConfig, data: PreparedData) -> tuple[nn.Module, dict[str, Any], bool]:
        """The judge for `config`: shipped in assets/, else from the store, else trained and stored. Its record
        holds its held-out accuracy (measured before it saw the held-out images) and the feature distance
        between real photos of the same person."""
        key = config_hash(config)
        model = judge_net(data.images.num_classes, config)
        record = SHIPPED.load_model("evaluators", key, model)  # LFW's judge ships: 30 CPU minutes to train
        if record is not None:
            return model.to(self.device).eval(), record, True
        with self.store.lock("evaluators", key):  # another process may be computing it: wait, then load
            record = self.store.load_model("evaluators", key, model)
            if record is not None:
                return model.to(self.device).eval(), record, True
            split_config = dataclasses.replace(config, finetune_epochs=0)
            timings = Timings()
            if config.finetune_epochs:
                model, record, _ = self.evaluator(split_config, data)
                x, y = data.images.tensors()
                with timings.stage("finetune_s"):
                    history = self._fit(model, x, y, config, config.finetune_epochs, config.lr / 4, "all images",
                                        seed=config.seed + 1)
                record = {**record, "history_finetune": history, "split_key": record["config_hash"],
                          "timings": {**record["timings"], **timings}}
            else:
                seed_everything(config.seed)
                model = judge_net(data.images.num_classes, config)
                x, y = data.train()
                with timings.stage("train_s"):
                    history = self._fit(model, x, y, config, config.epochs, config.lr, "training split",
                                        seed=config.seed)
                test_x, test_y = data.test()
                correct = int((log_probs(model, test_x, self.device).argmax(1) == test_y).sum())
                record = {"kind": "evaluator", "data": data.summary(), "history": history,
                          "heldout_accuracy": wilson_interval(correct, len(test_y)), "timings": dict(timings)}
            train_x, train_y = data.train()
            test_x, test_y = data.test()
            record.update(config=to_dict(config), config_hash=key, environment=environment(self.device),
                          created=timestamp(),
                          real_image_distance=real_image_distance(model, train_x, train_y, test_x, test_y, self.device))
            self.store.save_model("evaluators", key, model, record)
            return model.eval(), record, False

    def _fit(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, config: EvaluatorConfig, epochs: int,
             lr: float, label: str, seed: int) -> list[dict[str, float]]:
        if isinstance(model, FisherfacesJudge):  # fitted in closed form: no epochs, no history
            model.fit(x, y).to(self.device)
            return []
        trainer = Trainer(model, cross_entropy_objective, TrainerConfig(
            epochs=epochs, batch_size=config.batch_size, lr=lr, weight_decay=1e-4,
            augment_shift=config.augment_shift, photometric=config.photometric, seed=seed,
        ), on_epoch_end=[lambda r: self.progress(f"train evaluator ({label})", int(r["epoch"]), epochs)])
        return trainer.run(x, y, self.device)

    # ---- the attacker's prior -----------------------------------------------------------------------
    def prior(self, config: PriorConfig) -> tuple[GAN, dict[str, Any], bool]:
        """The GAN prior for `config`: from the store, else shipped in assets/, else trained on LFW's public
        faces and stored."""
        key = config_hash(config)
        gan = GAN(config)
        record = SHIPPED.load_model("priors", key, gan)  # read-only: needs no lock (or a writable store)
        if record is not None:
            return gan.to(self.device).eval(), record, True
        with self.store.lock("priors", key):
            record = self.store.load_model("priors", key, gan)
            if record is not None:
                return gan.to(self.device).eval(), record, True
            faces = public_faces(self.data_root, config.image_size, limit=config.images, box=lfw_box(config.crop))
            seed_everything(config.seed)
            gan = GAN(config)
            timings = Timings()
            with timings.stage("train_s"):
                history = train_gan(gan, faces, self.device, on_epoch_end=[
                    lambda r: self.progress("train GAN prior", int(r["epoch"]), config.epochs),
                    *self.epoch_callbacks])
            record = {"kind": "prior", "config": to_dict(config), "config_hash": key, "public": "lfw_public",
                      "images": len(faces), "history": history, "environment": environment(self.device),
                      "timings": dict(timings), "created": timestamp()}
            self.store.save_model("priors", key, gan, record)
            return gan.eval(), record, False

    # ---- attacks -------------------------------------------------------------------------------------
    def start_image(self, attack: AttackConfig, data: PreparedData) -> torch.Tensor:
        """MI-Face's start (1, H, W): flat gray, or the mean of the attacker's public faces (LFW's computed once)."""
        image_size = data.config.image_size
        if attack.miface.start == "gray":
            return torch.full((1, image_size, image_size), 0.5)
        if attack.public == "heldout_identities":
            if data.public_images is None:
                raise ConfigError("the public set 'heldout_identities' needs public identities held out (> 0)")
            return mean_face(data.public_images)
        return self.public_mean(PublicMean(attack.public, image_size, PUBLIC_MEAN_IMAGES))[0]

    def public_mean(self, config: PublicMean) -> tuple[torch.Tensor, dict[str, Any], bool]:
        """The mean of the attacker's first public faces (1, H, W): from the store, else computed and stored."""
        key = config_hash(config)
        loaded = self.store.load("public_mean", key)
        if loaded is not None:
            return loaded[0]["image"], loaded[1], True
        faces = load_lfw_public(self.data_root, config.image_size, limit=config.images)
        image = mean_face(faces)
        record = {"kind": "public_mean", "images": len(faces)}
        self.store.save("public_mean", key, {"image": image}, record)
        return image, record, False

    def attack(self, target: TargetNet, target_key: str, attack: AttackConfig, evaluator: nn.Module,
               evaluator_key: str, data: PreparedData) -> tuple[Reconstruction, dict[str, Any], bool]:
        """Invert every identity of `target` as `attack` says, score with `evaluator`; stored by hash."""
        key = config_hash(AttackRun(target_key, evaluator_key, attack))
        with self.store.lock("attacks", key):  # another process may be computing it: wait, then load
            loaded = self.store.load("attacks", key)
            if loaded is not None:
                return Reconstruction.from_tensors(loaded[0]), loaded[1], True
            timings = Timings()
            labels = torch.arange(data.images.num_classes, device=self.device)
            query = defended(attacker_query(target, attack.view, attack.view_samples), attack.output)
            checkpoint = self.store.path("attacks", key) / CHECKPOINT
            result, details = self._invert(query, labels, attack, data, timings, checkpoint)
            result = result.cpu()
            with timings.stage("score_s"):
                scores = attack_scores(evaluator, result.images, labels.cpu(),
                                       self.private_features(evaluator, evaluator_key, data), data.train()[1],
                                       self.device)
                if result.restart_images is not None:
                    scores = with_restart_scores(scores, evaluator, result.restart_images, result.chosen_restart,
                                                 self.device)
            record = {"kind": "attack", "config": to_dict(attack), "config_hash": key, "target_key": target_key,
                      "evaluator_key": evaluator_key, "scores": scores, **details,
                      "target_confidence": float(result.target_confidence[-1].mean()),
                      "environment": environment(self.device), "timings": dict(timings),
                      "created": timestamp()}
            self.store.save("attacks", key, result.tensors(), record,
                            files={"reconstructions.png": png_grid(result.images)})
            checkpoint.unlink(missing_ok=True)
            return result, record, False

    def private_features(self, evaluator: nn.Module, evaluator_key: str, data: PreparedData) -> torch.Tensor:
        """The judge's embedding of every private training photo, computed once per judge and dataset."""
        key = (evaluator_key, config_hash(data.config))
        if key not in self._private_features:
            self._private_features[key] = embed_all(evaluator, data.train()[0], self.device)
        return self._private_features[key]

    def _invert(self, query: Query, labels: torch.Tensor, attack: AttackConfig, data: PreparedData,
                timings: Timings, checkpoint: Path) -> tuple[Reconstruction, dict[str, Any]]:
        """Run the configured attack; also returns what its record should add (the prior used, a history).
        A long attack (GMI's paper recipe) keeps its state in `checkpoint` and continues from it."""
        image_size = data.config.image_size

        def on_step(done: int, total: int) -> None:
            self.progress(f"{attack.attack} attack ({attack.view} view)", done, total)

        if attack.attack == "miface":
            with timings.stage("start_s"):
                start = self.start_image(attack, data)
            seed_everything(attack.miface.seed)
            with timings.stage("attack_s"):
                return run_miface(query, labels, start.to(self.device), attack.miface, on_step), {}
        if attack.attack == "gmi":
            if attack.prior.image_size != image_size:
                raise ConfigError(f"the GAN prior draws {attack.prior.image_size}px faces but the target sees "
                                  f"{image_size}px; set the prior's image_size to {image_size}")
            with timings.stage("prior_s"):
                gan, prior_record, _ = self.prior(attack.prior)
            seed_everything(attack.gmi.seed)
            with timings.stage("attack_s"):
                result = run_gmi(query, labels, gan, attack.gmi, on_step, checkpoint=checkpoint)
            return result, {"prior_key": prior_record["config_hash"]}
        with timings.stage("public_s"):
            public = public_faces(self.data_root, image_size, limit=attack.inversion.images,
                                  box=lfw_box(attack.inversion.crop))
        victim_x, victim_y = data.train()
        seed_everything(attack.inversion.seed)  # the decoder's initial weights
        with timings.stage("attack_s"):
            result, history = run_inversion(query, labels, public, victim_x, victim_y, data.images.num_classes,
                                            attack.inversion, on_step)
        return result, {"history": history, "public_images": len(public)}


@functools.lru_cache(maxsize=1)  # a sweep's inversion attacks all learn from the same faces: decode them once
def public_faces(root: Path, image_size: int, limit: int = 0,
                 box: tuple[int, int, int, int] = LFW_FACE_BOX) -> torch.Tensor:
    """LFW's public faces (N, 1, S, S) in [0, 1]: what the attacker learns a prior or a decoder from.
    Shared between calls: read it, never write to it."""
    faces = load_lfw_public(root, image_size, limit=limit, box=box)
    return torch.from_numpy(faces).unsqueeze(1).float().div_(255.0)


def mean_face(faces: np.ndarray) -> torch.Tensor:
    """The pixel-wise mean of uint8 faces (N, H, W), as a (1, H, W) image in [0, 1]."""
    return torch.from_numpy(faces.astype(np.float32).mean(0) / 255.0).unsqueeze(0)


@dataclass(frozen=True)
class PublicMean:
    """Names the cached mean public face."""

    public: str
    image_size: int
    images: int


@dataclass(frozen=True)
class AttackRun:
    """Names one attack result: which target, which judge, which attack settings."""

    target_key: str
    evaluator_key: str
    attack: AttackConfig


def png_grid(images: torch.Tensor, columns: int = 10) -> bytes:
    """Images (N, 1, H, W) in [0, 1] tiled into one grayscale PNG, row by row."""
    buffer = io.BytesIO()
    Image.fromarray(tile(to_uint8(images).squeeze(1).numpy(), columns)).save(buffer, format="PNG")
    return buffer.getvalue()
