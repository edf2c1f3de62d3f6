"""A store entry's record.json as a typed object (core.store checks every record against it on load): the
fields every entry has, and the fields each kind of entry must hold to be served to the engine. Strict types,
unknown keys kept, as for the results (core.result_types)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from core.result_types import AttackScores, Estimate, Number, Stored, TestScores


class TargetTest(Stored):
    deployed: TestScores
    by_mode: dict[str, TestScores] = Field(default_factory=dict)


class StoreRecord(Stored):
    """A store entry's record.json (core.store). The fields every entry has are required; each kind's own
    (a target's test figures, an attack's scores, a judge's accuracy) are checked whenever present, so a record
    an older version wrote, without them, still loads and its reader completes it."""

    tensors_sha256: str = Field(pattern="^[0-9a-f]{64}$")
    key: str | None = None
    kind: str | None = None
    config: dict[str, Any] | None = None
    config_hash: str | None = None
    data_fingerprint: dict[str, str | None] | None = None
    created: str | None = None
    timings: dict[str, Number] = Field(default_factory=dict)
    history: list[dict[str, Any]] = Field(default_factory=list)
    recomputed_because: str | None = None
    test: TargetTest | None = None
    privacy: dict[str, Any] | None = None
    class_names: list[str] | None = None
    scores: AttackScores | None = None
    target_key: str | None = None
    evaluator_key: str | None = None
    target_confidence: Number = None
    heldout_accuracy: Estimate | None = None
    real_image_distance: Estimate | None = None


class ConfigRecord(StoreRecord):
    """A record whose entry is named by its config (core.engine.NAMED_BY rebuilds it to check the key)."""

    config: dict[str, Any]


class TargetRecord(ConfigRecord):
    test: TargetTest
    history: list[dict[str, Any]] = Field(min_length=1)  # its last epoch's KL term is reported


class JudgeRecord(ConfigRecord):
    heldout_accuracy: Estimate


class AttackRecord(ConfigRecord):
    scores: AttackScores
    target_key: str
    evaluator_key: str
    target_confidence: Number


# What an entry of each kind must hold to be served to the engine (core.store.Store.record with Expected).
KIND_RECORDS: dict[str, type[StoreRecord]] = {"targets": TargetRecord, "evaluators": JudgeRecord,
                                              "attacks": AttackRecord, "priors": ConfigRecord,
                                              "public_mean": ConfigRecord}
