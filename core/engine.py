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
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from core import gallery
from core.attack_config import AttackConfig, PriorConfig
from core.attacks import REGISTRY, AttackInputs, Reconstruction, attacker_query
from core.attacks.base import defended, reconstructions_png
from core.config import EvaluatorConfig, TargetConfig, defense_label
from core.data import PreparedData, lfw_box, load_lfw_public, public_fingerprint
from core.entries import (
    NAMED_BY,
    PUBLIC_MEAN_IMAGES,
    AttackRun,
    PublicMean,
    mean_face,
    public_faces,
    uses_lfw_public,
)
from core.errors import ConfigError, GalleryError
from core.gallery import shipped_entry
from core.metrics import (
    embed_all,
    heldout_accuracy,
    real_image_distance,
    reconstruction_scores,
    target_metrics,
)
from core.models import TargetNet, judge_net
from core.prior import GAN, train_gan
from core.reconstruction_shapes import reconstruction_error
from core.runtime import Timings, environment, seed_everything, timestamp
from core.store import FINGERPRINT, Expected, Store
from core.stored_config import config_hash, to_dict
from core.train import Callback, Trainer, TrainerConfig, fit_judge, mid_objective

# (what is happening, steps done, steps in all): how the engine reports progress to a CLI bar or a UI.
Progress = Callable[[str, int, int], None]
CHECKPOINT = "checkpoint.safetensors"  # an unfinished attack's state, in its entry's folder until it is stored
log = logging.getLogger("midlab")
# Priors (half-precision weights) and LFW's judge that ship with MID Lab, in the store's own format, so no user
# waits for them.
SHIPPED = Store(Path(__file__).resolve().parent.parent / "assets" / "store")


def _quiet(message: str, done: int, total: int) -> None:
    return None


@dataclass
class Engine:
    store: Store
    data_root: Path
    device: torch.device
    progress: Progress = _quiet
    epoch_callbacks: list[Callback] = field(default_factory=list)  # e.g. the dashboard's live curves
    # The shipped zoo: its models and attack results count as stored (see `_shipped`).
    zoo_dir: Path = field(default_factory=lambda: gallery.ZOO_DIR)
    # The judge's embeddings of the private training photos, by (judge key, data fingerprint): every attack scored by
    # one judge on one dataset measures distances to the same photos (6 s per attack for LFW's judge).
    _private_features: dict[tuple[str, str], torch.Tensor] = field(default_factory=dict, repr=False)

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
                      or self._shipped_target(key, model, config, data, expected))
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
            record = self._record("target", config, key, expected, timings, class_names=data.images.names,
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
        record = self.shipped("evaluators", key, expected, model)  # LFW's judge ships: 30 CPU minutes to train
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
            record = self._record("evaluator", config, key, expected, timings,
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

    def shipped(self, kind: str, key: str, expected: Expected, model: torch.nn.Module | None = None
                ) -> dict[str, Any] | None:
        """A shipped entry's record (its weights loaded into `model`, when given), or None; when it is not what
        `expected` says, the reason goes to the user's store, for the record of the entry computed there."""
        record = (SHIPPED.record(kind, key, expected) if model is None
                  else SHIPPED.load_model(kind, key, model, expected))
        if (kind, key) in SHIPPED.refused:
            self.store.refused[(kind, key)] = SHIPPED.refused.pop((kind, key))
        return record

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
        record = self.shipped("priors", key, expected, gan)  # read-only: needs no lock (or a writable store)
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
            record = self._record("prior", config, key, expected, timings, public="lfw_public", images=len(faces),
                                  history=history)
            self.store.save_model("priors", key, trained, record)
            return trained.eval(), record

        (gan, record), reused = self.store.get_or_compute("priors", key, load, train)
        return gan, record, reused

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
                      or self._shipped_attack(key, target_key, attack, evaluator_key, expected))
            return None if loaded is None else (Reconstruction.from_tensors(loaded[0]), loaded[1])

        def run() -> tuple[Reconstruction, dict[str, Any]]:
            timings = Timings()
            checkpoint = self.store.path("attacks", key) / CHECKPOINT
            result, details = self._invert(target, attack, data, timings, checkpoint)
            with timings.stage("score_s"):
                scores = reconstruction_scores(evaluator, result, torch.arange(data.images.num_classes),
                                               self.private_features(evaluator, evaluator_key, data), data.train()[1],
                                               self.device)
            record = self._record("attack", attack, key, expected, timings, target_key=target_key,
                                  evaluator_key=evaluator_key, scores=scores, **details,
                                  target_confidence=float(result.target_confidence[-1].mean()))
            self.store.save("attacks", key, result.tensors(), record,
                            files={"reconstructions.png": reconstructions_png(result.images)})
            checkpoint.unlink(missing_ok=True)
            return result, record

        (result, record), reused = self.store.get_or_compute("attacks", key, load, run)
        return result, record, reused

    # ---- the shipped zoo, as stored entries -----------------------------------------------------------
    def _shipped(self, kind: str, key: str,
                 expected: Expected) -> tuple[dict[str, torch.Tensor], gallery.Sweep, dict[str, Any]] | None:
        """A zoo entry (checked against the manifest's SHA-256), its zoo sweep and run; None when the zoo lacks it,
        it is damaged, or its models learnt from other photos than the dataset here (reported: computed anew)."""
        try:
            found = shipped_entry(kind, key, self.zoo_dir)
        except GalleryError as error:
            log.warning("not reusing the zoo's %s %s: %s", kind, key, error)
            return None
        if found is None:
            return None
        shipped, here = found[1].results.get(FINGERPRINT), expected.fingerprint.get("private")
        if shipped and here and shipped != here:
            log.warning("not reusing the zoo's %s %s: its models learnt from other photos than the dataset here "
                        "(fingerprint %s then, %s now)", kind, key, shipped[:12], here[:12])
            return None
        return {k: torch.from_numpy(v) for k, v in found[0].items()}, *found[1:]

    def _shipped_target(self, key: str, model: TargetNet, config: TargetConfig, data: PreparedData,
                        expected: Expected) -> dict[str, Any] | None:
        """Fill `model` with the zoo's half-precision weights of this target and store it (full precision), its
        test figures measured again on these weights; None when the zoo lacks it."""
        found = self._shipped("targets", key, expected)
        if found is None:
            return None
        tensors, _, run = found
        state = model.state_dict()
        model.load_state_dict({name: value.to(state[name].dtype) for name, value in tensors.items()}, strict=True)
        model = model.to(self.device).eval()
        timings = Timings()
        with timings.stage("evaluate_s"):
            test = target_metrics(model, config, data, self.device)
        record = self._record("target", config, key, expected, timings, class_names=data.images.names,
                              data=data.summary(), history=[{"kl": run["final_kl"]}], test=test, privacy=None,
                              shipped={"weights_file": run["weights_file"], "test": run["test"],
                                       "half_precision_agreement": run["half_precision_agreement"]})
        self.store.save_model("targets", key, model, record)
        return record

    def _shipped_attack(self, key: str, target_key: str, attack: AttackConfig, evaluator_key: str,
                        expected: Expected) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
        """The zoo's result of this attack, stored in the store's form (its 8-bit reconstructions, exact as scored;
        its trajectory's few frames enlarged back to full size) with the zoo's scores; None when the zoo lacks it,
        or when the judge here is not the one that scored it (same config, other weights: trained again here)."""
        found = self._shipped("attacks", key, expected)
        judge = SHIPPED.record("evaluators", evaluator_key) or self.store.record("evaluators", evaluator_key) or {}
        measured = ("heldout_accuracy", "real_image_distance")
        if found is None or any(judge.get(name) != found[1].results["evaluator"][name] for name in measured):
            return None
        if wrong := expected.tensors_error(found[0]):
            log.warning("not reusing the zoo's attacks %s: it holds %s", key, wrong)
            return None
        shipped, _, run = found
        images = shipped["images"].unsqueeze(1)  # (C, 1, H, W) uint8
        scale = images.shape[-1] // shipped["trajectory"].shape[-1]
        trajectory = shipped["trajectory"].unsqueeze(2).repeat_interleave(scale, 3).repeat_interleave(scale, 4)
        trajectory = torch.cat([trajectory, images.unsqueeze(0)])  # the zoo leaves out the last frame: the final image
        tensors = {"images": images.float() / 255, "trajectory": trajectory, "steps": shipped["steps"],
                   "target_confidence": shipped["target_confidence"]}
        record = self._record("attack", attack, key, expected, {}, target_key=target_key, evaluator_key=evaluator_key,
                              scores=run["attack"], target_confidence=run["attack_target_confidence"],
                              shipped={"reconstructions_file": run["reconstructions_file"]})
        self.store.save("attacks", key, tensors, record,
                        files={"reconstructions.png": reconstructions_png(tensors["images"])})
        return self.store.load("attacks", key)

    def private_features(self, evaluator: nn.Module, evaluator_key: str, data: PreparedData) -> torch.Tensor:
        """The judge's embedding of every private training photo, computed once per judge and dataset."""
        key = (evaluator_key, data.fingerprint)
        if key not in self._private_features:
            self._private_features[key] = embed_all(evaluator, data.train()[0], self.device)
        return self._private_features[key]

    def _invert(self, target: TargetNet, attack: AttackConfig, data: PreparedData, timings: Timings,
                checkpoint: Path) -> tuple[Reconstruction, dict[str, Any]]:
        """Run the configured attack (core.attacks.REGISTRY) with the inputs it needs, each provided in its own
        timed stage; also returns what its record adds. A long attack (GMI's paper recipe) keeps its state in
        `checkpoint` and continues from it."""
        spec, inputs, details = REGISTRY[attack.attack], {}, {}
        for need in spec.needs:
            stage, provide = self._providers[need]
            with timings.stage(stage) if stage else contextlib.nullcontext():
                inputs[need], added = provide(attack, data)
            details.update(added)
        labels = torch.arange(data.images.num_classes, device=self.device)
        query = defended(attacker_query(target, attack.view, attack.view_samples), attack.output)

        def on_step(done: int, total: int) -> None:
            self.progress(f"{attack.attack} attack ({attack.view} view)", done, total)

        seed_everything(spec.seed(attack))
        with timings.stage("attack_s"):
            result, added = spec.run(AttackInputs(query, labels, attack, on_step, checkpoint, **inputs))
        return result.cpu(), {**added, **details}

    @property
    def _providers(self) -> dict[str, tuple[str | None, Callable[[AttackConfig, PreparedData], tuple[Any, dict]]]]:
        """What an attack may need (core.attacks.AttackInputs): the timing stage it is counted in, and how it is
        provided, with what the attack's record adds about it."""
        return {"start": ("start_s", lambda attack, data: (self.start_image(attack, data).to(self.device), {})),
                "prior": ("prior_s", self._prior_for), "public": ("public_s", self._public_for),
                "private": (None, lambda attack, data: (data.train(), {}))}

    def _prior_for(self, attack: AttackConfig, data: PreparedData) -> tuple[GAN, dict[str, Any]]:
        if attack.prior.image_size != data.config.image_size:
            raise ConfigError(f"the GAN prior draws {attack.prior.image_size}px faces but the target sees "
                              f"{data.config.image_size}px; set the prior's image_size to {data.config.image_size}")
        gan, record, _ = self.prior(attack.prior)
        return gan, {"prior_key": record["config_hash"]}

    def _public_for(self, attack: AttackConfig, data: PreparedData) -> tuple[torch.Tensor, dict[str, Any]]:
        public = public_faces(self.data_root, data.config.image_size, limit=attack.inversion.images,
                              box=lfw_box(attack.inversion.crop), fingerprint=self.public_fingerprint)
        return public, {"public_images": len(public)}

    def _record(self, kind: str, config: Any, key: str, expected: Expected, timings: Mapping[str, float], /,
                **fields: Any) -> dict[str, Any]:
        """A new entry's record: `fields`, then what every record holds (what made it, where, when, how long),
        which replaces any field of that name (a fine-tuned judge's fields start as its split judge's)."""
        return {**fields, "kind": kind, "config": to_dict(config), "config_hash": key, FINGERPRINT: expected.known,
                "environment": environment(self.device), "timings": dict(timings), "created": timestamp()}
