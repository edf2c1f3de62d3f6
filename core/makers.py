"""What computes each kind of stored entry: a target trained, a judge trained (or fine-tuned), the GAN prior
trained, an attack run and scored, the mean public face. core.engine decides whether anything is computed at all
(shipped, stored, or being computed by another process); these only compute, and hand back a Made that the
engine stores under the entry's key with the record every entry holds (core.entries.new_record).

Each seeds the random generators where its result depends on them, so a rerun of one config computes the same."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import torch
from torch import nn

from core.attack_config import AttackConfig, PriorConfig
from core.attack_inputs import PROVIDERS
from core.attacks import REGISTRY, AttackInputs, Reconstruction, attacker_query
from core.attacks.base import defended, reconstructions_png
from core.config import EvaluatorConfig, TargetConfig, defense_label
from core.data import PreparedData, lfw_box, load_lfw_public
from core.entries import PublicMean, mean_face, public_faces
from core.metrics import heldout_accuracy, real_image_distance, reconstruction_scores, target_metrics
from core.models import TargetNet, judge_net
from core.prior import GAN, train_gan
from core.runtime import Timings, seed_everything
from core.train import Trainer, TrainerConfig, fit_judge, mid_objective

if TYPE_CHECKING:
    from core.engine import Engine

T = TypeVar("T")


@dataclass
class Made(Generic[T]):
    """One computed entry: the thing itself, the config its record names, the tensors the store keeps, what its
    record adds and how long each stage took; extra files stored beside it, and scratch files (a checkpoint) that
    go once it is stored."""

    value: T
    config: Any
    tensors: dict[str, torch.Tensor]
    fields: dict[str, Any]
    timings: Mapping[str, float]
    files: dict[str, bytes] = field(default_factory=dict)
    scratch: tuple[Path, ...] = ()


def train_target(engine: Engine, config: TargetConfig, data: PreparedData) -> Made[TargetNet]:
    """A target trained on the private training split with MID's objective, and its test figures."""
    seed_everything(config.train.seed)
    model = TargetNet(data.images.num_classes, config.model, config.data.image_size)
    timings = Timings()
    label = f"train {defense_label(config)} seed={config.train.seed}"
    trainer = Trainer(model, mid_objective(config.train.mid_lambda, config.train.label_smoothing),
                      TrainerConfig.for_target(config.train),
                      on_epoch_end=[lambda r: engine.progress(label, int(r["epoch"]), config.train.epochs),
                                    *engine.epoch_callbacks])
    with timings.stage("train_s"):
        history = trainer.run(*data.train(), engine.device)
    with timings.stage("evaluate_s"):
        test = target_metrics(model, config, data, engine.device)
    fields = {"class_names": data.images.names, "data": data.summary(), "history": history, "test": test,
              "privacy": trainer.privacy}
    return Made(model.eval(), config, model.state_dict(), fields, timings)


def train_judge(engine: Engine, config: EvaluatorConfig, data: PreparedData) -> Made[nn.Module]:
    """A judge trained on the training split, its held-out accuracy measured before it sees the held-out images;
    with `finetune_epochs`, that judge (the engine's, stored under its own key) then a few epochs on every image.
    Either way with the feature distance between real photos of the same person."""
    timings = Timings()
    if config.finetune_epochs:
        judge, split, _ = engine.evaluator(dataclasses.replace(config, finetune_epochs=0), data)
        with timings.stage("finetune_s"):
            history = _fit_judge(engine, judge, *data.images.tensors(), config, config.finetune_epochs,
                                 config.lr / 4, "all images", seed=config.seed + 1)
        fields = {**split, "history_finetune": history, "split_key": split["config_hash"]}
        timings = Timings({**split["timings"], **timings})
    else:
        seed_everything(config.seed)
        judge = judge_net(data.images.num_classes, config)
        with timings.stage("train_s"):
            history = _fit_judge(engine, judge, *data.train(), config, config.epochs, config.lr, "training split",
                                 seed=config.seed)
        fields = {"data": data.summary(), "history": history,
                  "heldout_accuracy": heldout_accuracy(judge, *data.test(), engine.device)}
    distance = real_image_distance(judge, *data.train(), *data.test(), engine.device)
    return Made(judge.eval(), config, judge.state_dict(), {**fields, "real_image_distance": distance}, timings)


def _fit_judge(engine: Engine, judge: nn.Module, x: torch.Tensor, y: torch.Tensor, config: EvaluatorConfig,
               epochs: int, lr: float, label: str, seed: int) -> list[dict[str, float]]:
    def report(epoch: dict[str, float]) -> None:
        engine.progress(f"train evaluator ({label})", int(epoch["epoch"]), epochs)

    return fit_judge(judge, x, y, config, epochs, lr, seed, engine.device, on_epoch_end=[report])


def train_prior(engine: Engine, config: PriorConfig) -> Made[GAN]:
    """The GAN prior trained on LFW's public faces (never the private ones)."""
    faces = public_faces(engine.data_root, config.image_size, limit=config.images, box=lfw_box(config.crop),
                         fingerprint=engine.public_fingerprint)
    seed_everything(config.seed)
    gan, timings = GAN(config), Timings()
    with timings.stage("train_s"):
        history = train_gan(gan, faces, engine.device, on_epoch_end=[
            lambda r: engine.progress("train GAN prior", int(r["epoch"]), config.epochs), *engine.epoch_callbacks])
    fields = {"public": "lfw_public", "images": len(faces), "history": history}
    return Made(gan.eval(), config, gan.state_dict(), fields, timings)


def mean_public_face(engine: Engine, config: PublicMean) -> Made[torch.Tensor]:
    """The mean of the attacker's first public faces (1, H, W): MI-Face's start."""
    timings = Timings()
    with timings.stage("public_mean_s"):
        faces = load_lfw_public(engine.data_root, config.image_size, limit=config.images)
        image = mean_face(faces)
    return Made(image, config, {"image": image}, {"images": len(faces)}, timings)


def run_attack(engine: Engine, target: TargetNet, target_key: str, attack: AttackConfig, evaluator: nn.Module,
               evaluator_key: str, data: PreparedData, checkpoint: Path) -> Made[Reconstruction]:
    """Invert every identity of `target` as `attack` says and score the images with `evaluator`. A long attack
    (GMI's paper recipe) keeps its state in `checkpoint` and continues from it; it goes once the result is
    stored."""
    timings = Timings()
    result, details = _invert(engine, target, attack, data, timings, checkpoint)
    with timings.stage("score_s"):
        private = engine.private_features.of(evaluator, evaluator_key, data, engine.device)
        scores = reconstruction_scores(evaluator, result, torch.arange(data.images.num_classes), private,
                                       data.train()[1], engine.device)
    fields = {"target_key": target_key, "evaluator_key": evaluator_key, "scores": scores, **details,
              "target_confidence": float(result.target_confidence[-1].mean())}
    return Made(result, attack, result.tensors(), fields, timings,
                files={"reconstructions.png": reconstructions_png(result.images)}, scratch=(checkpoint,))


def _invert(engine: Engine, target: TargetNet, attack: AttackConfig, data: PreparedData, timings: Timings,
            checkpoint: Path) -> tuple[Reconstruction, dict[str, Any]]:
    """Run the configured attack (core.attacks.REGISTRY) with the inputs it needs, each provided in its own
    timed stage; also returns what its record adds."""
    spec, inputs, details = REGISTRY[attack.attack], {}, {}
    for need in spec.needs:
        stage, provide = PROVIDERS[need]
        with timings.stage(stage) if stage else contextlib.nullcontext():
            inputs[need], added = provide(engine, attack, data)
        details.update(added)
    labels = torch.arange(data.images.num_classes, device=engine.device)
    query = defended(attacker_query(target, attack.view, attack.view_samples), attack.output)

    def on_step(done: int, total: int) -> None:
        engine.progress(f"{attack.attack} attack ({attack.view} view)", done, total)

    seed_everything(spec.seed(attack))
    with timings.stage("attack_s"):
        result, added = spec.run(AttackInputs(query, labels, attack, on_step, checkpoint, **inputs))
    return result.cpu(), {**added, **details}
