"""What the dashboard shows, read without torch: sweeps (the shipped zoo and the user's own results),
their reconstructions as 8-bit images, and original faces from the dataset.

Tensors are read with safetensors' NumPy loader and checked against the SHA-256 their manifest or store
record names, so a damaged file is reported, never shown.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as load_safetensors

from core.config import DataConfig
from core.data import PreparedData
from core.errors import GalleryError, SchemaError, validated
from core.files import json_content, log, read_json, read_regular
from core.recipes import recipe_of
from core.reconstruction_shapes import reconstruction_error
from core.result_types import Estimate, JoinedRow, JoinedRun, JoinedSweep, SweepRun, ZooManifest
from core.results import checked_config, join_results, list_results, read_results, template_hash

# The shipped zoo; $MIDLAB_ZOO points MID Lab at another one built by `python -m core zoo` (a test's small zoo).
ZOO_DIR = Path(os.environ.get("MIDLAB_ZOO") or Path(__file__).resolve().parent.parent / "assets" / "zoo")
MANIFEST = "manifest.json"
ZOO_FIX = "the shipped zoo is damaged: `git checkout assets/zoo` or `python -m core zoo` rebuilds it"



@dataclass
class Sweep:
    """One sweep's results and where its tensors live: the zoo (`precomputed`) or the store (`trained here`)."""

    results: dict[str, Any]
    origin: str
    base: Path | None = None  # the zoo folder, for the zoo's relative file names

    @functools.cached_property
    def typed(self) -> JoinedSweep:
        """The results as typed objects (their files were checked when read; a join's tags are typed too)."""
        return JoinedSweep.model_validate(self.results, strict=False)

    @property
    def key(self) -> str:
        return self.typed.config_hash

    @property
    def label(self) -> str:
        dataset, attack = self.typed.data.dataset, self.typed.settings.attack
        added = sum(row.origin == "trained here" for row in self.typed.summary)
        joined = f" + {added} trained here" if added and self.origin != "trained here" else ""
        recipe = " (paper recipe)" if recipe_of(self.typed) == "paper" else ""
        return (f"{dataset.upper()} · {attack.attack}{recipe} · {attack.view} view · "
                f"{len(self.lambdas)} lambdas ({self.origin}{joined}, {self.key})")

    @property
    def member_keys(self) -> list[str]:
        """The results files this sweep shows: itself, or every file a join took runs from."""
        return self.typed.members or [self.key]

    @property
    def version(self) -> str:
        """Changes when a file joins: caches of what the sweep shows are keyed by it."""
        return "+".join(self.member_keys)

    @property
    def lambdas(self) -> list[float]:
        return [row.lambda_ for row in self.typed.summary]

    @property
    def names(self) -> list[str]:
        return self.typed.class_names

    def row(self, mid_lambda: float) -> JoinedRow:
        return next(r for r in self.typed.summary if r.lambda_ == mid_lambda)

    def run(self, mid_lambda: float) -> JoinedRun:
        """The first seed's run at a lambda (images come from one trained model)."""
        return next(r for r in self.typed.runs if r.lambda_ == mid_lambda)

    def shipped(self, relative: str) -> dict[str, np.ndarray]:
        """A zoo file's tensors (a model's weights, an attack's reconstructions), checked against the manifest."""
        return _checked(self.base / relative, self.typed.zoo.files.get(relative), ZOO_FIX)

    def _tensors(self, run: SweepRun) -> dict[str, np.ndarray]:
        """A run's reconstructions and their trajectory, checked against their checksum and their shapes: one
        image per person (the results' class names), one frame per recorded step."""
        if run.reconstructions_file is not None:
            path, fix = self.base / run.reconstructions_file, ZOO_FIX
            tensors = self.shipped(run.reconstructions_file)
        else:
            path, fix = Path(run.reconstructions_path) / "tensors.safetensors", "run the sweep again to recompute it"
            record = read_json(path.with_name("record.json"))
            tensors = _checked(path, record.get("tensors_sha256") if isinstance(record, dict) else None, fix)
        if wrong := reconstruction_error(tensors, len(self.names)):
            raise GalleryError(f"{path} holds {wrong}; {fix}")
        return tensors

    def reconstructions(self, mid_lambda: float) -> np.ndarray:
        """The reconstruction of every identity at a lambda, uint8 (C, H, W)."""
        return _uint8_faces(self._tensors(self.run(mid_lambda))["images"])

    def trajectory(self, mid_lambda: float) -> tuple[np.ndarray, list[int], np.ndarray]:
        """Recorded frames uint8 (T, C, H, W), their step numbers, and the target's confidence (T, C). The zoo
        keeps frames at reduced resolution and leaves out the last one, the final image it holds exactly: they
        come back enlarged, with the final image appended."""
        tensors = self._tensors(self.run(mid_lambda))
        return full_trajectory(tensors), tensors["steps"].tolist(), tensors["target_confidence"]


def full_trajectory(tensors: dict[str, np.ndarray]) -> np.ndarray:
    """An attack's recorded frames as uint8 (T, C, H, W) at the images' size, one per step: the zoo's reduced
    frames enlarged, and its final frame, which it leaves out, taken from the exact final images."""
    frames, images = tensors["trajectory"], tensors["images"]
    frames = frames.reshape(frames.shape[0], frames.shape[1], frames.shape[-2], frames.shape[-1])
    scale = images.shape[-1] // frames.shape[-1]
    if scale > 1:
        frames = frames.repeat(scale, axis=2).repeat(scale, axis=3)
    if len(frames) == len(tensors["steps"]) - 1:
        frames = np.concatenate([frames, _uint8_faces(images)[None]])
    return frames


def _checked(path: Path, expected: str | None, fix: str) -> dict[str, np.ndarray]:
    """A safetensors file's tensors, if its bytes have the SHA-256 `expected`; else GalleryError saying `fix`."""
    try:
        data = read_regular(path)
    except OSError as error:
        raise GalleryError(f"cannot read {path} ({error.strerror or error}); {fix}") from error
    if expected != hashlib.sha256(data).hexdigest():
        raise GalleryError(f"{path} does not match its checksum; {fix}")
    try:
        return load_safetensors(data)
    except SafetensorError as error:
        raise GalleryError(f"{path} is not a valid safetensors file ({error}); {fix}") from error


def shipped_entry(kind: str, key: str, folder: Path = ZOO_DIR) -> tuple[dict[str, np.ndarray], Sweep, dict] | None:
    """A zoo model ('targets', by target key) or attack result ('attacks', by attack key), checked against the
    manifest, with the zoo sweep and run that name it; None when the zoo has no such entry. A damaged file raises
    GalleryError."""
    field, file = {"targets": ("target_key", "weights_file"), "attacks": ("attack_key", "reconstructions_file")}[kind]
    for sweep in load_zoo(folder):
        for run in sweep.results["runs"]:
            if run[field] == key:
                return sweep.shipped(run[file]), sweep, run
    return None


def _uint8_faces(images: np.ndarray) -> np.ndarray:
    """Stored reconstructions (C, [1,] H, W), float in [0, 1] (a store) or uint8 (the zoo), as uint8 (C, H, W)."""
    if images.dtype != np.uint8:
        images = (np.clip(images, 0, 1) * 255 + 0.5).astype(np.uint8)
    return images.reshape(images.shape[0], images.shape[-2], images.shape[-1])


def attack_siblings(sweep: Sweep, sweeps: list[Sweep]) -> list[Sweep]:
    """The sweeps of the same models (targets, lambdas, seeds), judge and attacker's view under each other
    attack: one curve each on the tradeoff plot."""
    def setting(s: Sweep) -> tuple:
        config = s.typed.settings
        return config.target, config.lambdas, config.seeds, config.evaluator, config.attack.view

    mine, seen = setting(sweep), {sweep.typed.settings.attack.attack}
    found = []
    for other in sweeps:
        attack = other.typed.settings.attack.attack
        if attack not in seen and setting(other) == mine:
            seen.add(attack)
            found.append(other)
    return found


def read_zoo(folder: Path = ZOO_DIR) -> list[Sweep]:
    """The shipped sweeps (one per attack on the default targets), none when the manifest is missing; SchemaError
    naming the manifest and what is wrong when it is not a valid one."""
    try:
        manifest = json_content(folder / MANIFEST)
    except FileNotFoundError:
        return []
    typed = validated(ZooManifest, manifest, str(folder / MANIFEST))
    return [Sweep({**checked_config(results, sweep, str(folder / MANIFEST)), "zoo": manifest["zoo"]}, "precomputed",
                  folder)
            for results, sweep in zip(manifest["sweeps"], typed.sweeps, strict=True)]


def load_zoo(folder: Path = ZOO_DIR) -> list[Sweep]:
    """The shipped sweeps (see read_zoo); none, with a warning, when the manifest is not valid."""
    try:
        return read_zoo(folder)
    except SchemaError as error:
        log.warning("%s", error)
        return []


def available_sweeps(results_dir: Path, zoo_dir: Path | None = None) -> tuple[list[Sweep], list[str]]:
    """The shipped zoo first, then every valid sweep results file in `results_dir`, newest first; and a message
    for each file skipped (the zoo's manifest, a results file), naming it and what is wrong."""
    sweeps, problems = [], []
    try:
        sweeps = read_zoo(zoo_dir or ZOO_DIR)
    except SchemaError as error:
        problems.append(f"Skipped the shipped zoo: {error}; {ZOO_FIX}.")
    for path in list_results(results_dir):
        try:
            results = read_results(path)
        except SchemaError as error:
            problems.append(f"Skipped a results file: {error}; run its sweep again to rewrite it.")
            continue
        if all(s.key != results["config_hash"] for s in sweeps):
            sweeps.append(Sweep(results, "trained here"))
    return join_sweeps(sweeps), problems


def join_sweeps(sweeps: list[Sweep]) -> list[Sweep]:
    """Sweeps of one template (core.results.template_hash) joined into one per judge, in the order their first
    file is listed: a model trained to extend a sweep shows as a point of it. The zoo's files are preferred, then
    the oldest; each judge's view also shows, marked, the other judges' points at lambdas it lacks."""
    groups: dict[str, list[Sweep]] = {}
    for sweep in sweeps:
        groups.setdefault(template_hash(sweep.typed.settings), []).append(sweep)
    joined = []
    for group in groups.values():
        if len(group) == 1:
            joined += group
            continue
        group.sort(key=lambda s: (s.origin != "precomputed", s.typed.created))
        base = next((s.base for s in group if s.base is not None), None)
        judges = {json.dumps(s.results["evaluator"], sort_keys=True): s.results["evaluator"] for s in group}
        for judge in judges.values():
            members = [(s.results, s.origin) for s in group if s.results["evaluator"] == judge]
            others = [(s.results, s.origin) for s in group if s.results["evaluator"] != judge]
            joined.append(Sweep(join_results(members, others), members[0][1], base))
    return joined


def original_faces(data_config: DataConfig, root: Path) -> tuple[np.ndarray, list[str], str]:
    """One private training image per identity, uint8 (C, H, W), in label order, the names, and the dataset's
    fingerprint (see photos_changed). Raises core.data.DataError (with how to get the data) when the dataset is
    missing."""
    data = PreparedData.load(data_config, root)
    first = {}
    for index in data.train_index:
        first.setdefault(int(data.images.labels[index]), index)
    return (data.images.images[[first[label] for label in range(data.images.num_classes)]], data.images.names,
            data.fingerprint)


def photos_changed(sweep: Sweep, fingerprint: str) -> str | None:
    """A warning when the dataset's photos (`fingerprint`, as original_faces gives it) are not those the sweep's
    models and reconstructions came from; None when they are, or the results predate fingerprints."""
    if sweep.typed.data_fingerprint in (None, fingerprint):
        return None
    return ("The photos in this dataset changed since these results were made: the originals shown are today's, "
            "the models and reconstructions come from the old photos. Run the sweep again to recompute them "
            "(every stored model and attack made from the old photos is recomputed).")


def metric_delta(figure: Estimate, baseline: Estimate) -> float | None:
    """figure - baseline, or None when either is missing."""
    value, base = figure.value, baseline.value
    if value is None or base is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value - base
