"""What ships with MID Lab, served as stored entries: the priors and LFW's judge in assets/store (the store's own
format, half-precision weights), and the zoo's targets and attack results (assets/zoo), each copied into the
user's store in its form the first time it is asked for. So no user waits for what MID Lab already computed."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from core.attack_config import AttackConfig
from core.attacks.base import from_uint8, reconstructions_png
from core.config import TargetConfig
from core.data import PreparedData
from core.entries import new_record
from core.errors import GalleryError
from core.gallery import Sweep, full_trajectory, shipped_entry
from core.metrics import target_metrics
from core.models import TargetNet
from core.runtime import Timings
from core.store import FINGERPRINT, Expected, Store

log = logging.getLogger("midlab")
SHIPPED = Store(Path(__file__).resolve().parent.parent / "assets" / "store")


@dataclass
class Shipped:
    """The shipped entries as seen from one user's `store`: what is refused is reported there, and what the zoo
    holds is stored there (its models on `device`)."""

    store: Store
    device: torch.device
    zoo_dir: Path

    def record(self, kind: str, key: str, expected: Expected, model: torch.nn.Module | None = None
               ) -> dict[str, Any] | None:
        """A shipped entry's record (its weights loaded into `model`, when given), or None; when it is not what
        `expected` says, the reason goes to the user's store, for the record of the entry computed there."""
        record = (SHIPPED.record(kind, key, expected) if model is None
                  else SHIPPED.load_model(kind, key, model, expected))
        if (kind, key) in SHIPPED.refused:
            self.store.refused[(kind, key)] = SHIPPED.refused.pop((kind, key))
        return record

    def zoo_entry(self, kind: str, key: str,
                  expected: Expected) -> tuple[dict[str, torch.Tensor], Sweep, dict[str, Any]] | None:
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

    def target(self, key: str, model: TargetNet, config: TargetConfig, data: PreparedData,
               expected: Expected) -> dict[str, Any] | None:
        """Fill `model` with the zoo's half-precision weights of this target and store it (full precision), its
        test figures measured again on these weights; None when the zoo lacks it."""
        found = self.zoo_entry("targets", key, expected)
        if found is None:
            return None
        tensors, _, run = found
        state = model.state_dict()
        model.load_state_dict({name: value.to(state[name].dtype) for name, value in tensors.items()}, strict=True)
        model = model.to(self.device).eval()
        timings = Timings()
        with timings.stage("evaluate_s"):
            test = target_metrics(model, config, data, self.device)
        record = new_record("target", config, key, expected, timings, self.device, class_names=data.images.names,
                            data=data.summary(), history=[{"kl": run["final_kl"]}], test=test, privacy=None,
                            shipped={"weights_file": run["weights_file"], "test": run["test"],
                                     "half_precision_agreement": run["half_precision_agreement"]})
        self.store.save_model("targets", key, model, record)
        return record

    def attack(self, key: str, target_key: str, attack: AttackConfig, evaluator_key: str,
               expected: Expected) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
        """The zoo's result of this attack, stored in the store's form (its 8-bit reconstructions, exact as scored;
        its trajectory's few frames enlarged back to full size) with the zoo's scores; None when the zoo lacks it,
        or when the judge here is not the one that scored it (same config, other weights: trained again here)."""
        found = self.zoo_entry("attacks", key, expected)
        judge = SHIPPED.record("evaluators", evaluator_key) or self.store.record("evaluators", evaluator_key) or {}
        measured = ("heldout_accuracy", "real_image_distance")
        if found is None or any(judge.get(name) != found[1].results["evaluator"][name] for name in measured):
            return None
        if wrong := expected.tensors_error(found[0]):
            log.warning("not reusing the zoo's attacks %s: it holds %s", key, wrong)
            return None
        shipped, _, run = found
        trajectory = full_trajectory({name: value.numpy() for name, value in shipped.items()})
        tensors = {"images": from_uint8(shipped["images"]),
                   "trajectory": torch.from_numpy(trajectory).unsqueeze(2), "steps": shipped["steps"],
                   "target_confidence": shipped["target_confidence"]}
        record = new_record("attack", attack, key, expected, {}, self.device, target_key=target_key,
                            evaluator_key=evaluator_key, scores=run["attack"],
                            target_confidence=run["attack_target_confidence"],
                            shipped={"reconstructions_file": run["reconstructions_file"]})
        self.store.save("attacks", key, tensors, record,
                        files={"reconstructions.png": reconstructions_png(tensors["images"])})
        return self.store.load("attacks", key)
