"""The stored results as typed objects: sweeps, comparisons, studies, the zoo manifest and their rows, each
interval estimate (`Estimate`: a value with its 95% interval) and the judge panel's entries. They model the JSON
files exactly as MID Lab has always written them (no key renamed, none added), so every file under assets/ and
every results folder loads as it is; core.errors.validated checks a parsed file against its model and names the
file and the field at fault (SchemaError). No torch here: the dashboard reads these on its first screen.

Strict types: a number stored as text, a list where an estimate belongs or a missing field is an error, not a
guess. Keys this version does not read are kept (`extra="allow"`), so a newer file still loads. Non-finite
numbers are written as null (core.files), so every float field may be None.

A results file's config is kept as stored (`config`, what its writers extend) and rebuilt as its dataclass
(`settings`, what readers take), so a config this version cannot rebuild makes the file invalid on reading."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Generic, Literal, Self, TypeVar

import pydantic
from pydantic import Field

from core.stored_config import from_dict
from core.study_design import StudyConfig
from core.sweep_config import ComparisonConfig, SweepConfig

Number = float | None  # JSON has no NaN: core.files writes it as null
Span = Annotated[list[float], Field(min_length=2, max_length=2)]  # (lowest, highest)
Level = bool | int | float | str  # a study factor's level: an attack's name, a bottleneck width, a flag


class Stored(pydantic.BaseModel):
    """A part of a stored file: strict types, fields by their stored names, unknown keys kept."""

    model_config = pydantic.ConfigDict(extra="allow", strict=True, frozen=True, populate_by_name=True)


class Estimate(Stored):
    """A figure estimated from a sample: its value, the bounds of its 95% interval (absent or null when it has
    none), the sample size, the spread, and over several seeds each seed's value."""

    value: Number
    low: Number = None
    high: Number = None
    n: int | None = None
    std: Number = None
    per_seed: list[Number] | None = None

    def stored(self) -> dict[str, Any]:
        """The estimate as its file holds it (only the keys it has), for core.stats' interval arithmetic."""
        return self.model_dump(exclude_unset=True)


class Sink(Stored):
    """The sink check of one judge on one attack's reconstructions (core.results.sink_check)."""

    class_: int | None = Field(alias="class")
    count: int
    n: int
    share: Number
    uniform: Number
    p_value: Number
    flagged: bool


class IdentityScore(Stored):
    """What the judge said of one person's reconstruction."""

    label: int
    predicted: int
    top1: bool
    top5: bool
    feature_distance: Number = None
    evaluator_confidence: Number = None


class AttackScores(Stored):
    """An attack's figures; a sweep's runs also keep each person's score (`per_identity`)."""

    top1: Estimate
    top5: Estimate
    feature_distance: Estimate
    per_identity: list[IdentityScore] = []
    sink: Sink | None = None
    any_restart: Estimate | None = None  # GMI's paper recipe: the share named by any of its restarts


class TestScores(Stored):
    """A target's figures on the private test photos."""

    accuracy: Estimate
    confidence: Estimate
    entropy: Estimate
    balanced_accuracy: Estimate | None = None
    rank_mass: list[Number] = []


class Judge(Stored):
    """The judge (evaluation network) that scored the attacks."""

    key: str
    heldout_accuracy: Estimate
    real_image_distance: Estimate | None = None
    compute_s: Number = None


class DataSummary(Stored):
    dataset: str
    identities: int
    train_images: int | None = None
    test_images: int | None = None
    public_images: int | None = None
    source: str | None = None


class PanelJudgeScore(Stored):
    """One panel judge's figures on one attack (core.metrics.panel_scores)."""

    name: str
    key: str
    heldout_accuracy: Estimate
    top1: Estimate
    sink: Sink
    predicted: list[int]


class PanelScores(Stored):
    judges: list[PanelJudgeScore]
    median: Number
    range: Span
    identified_by_all: int
    identified_by_any: int
    n: int
    flagged: list[str]


class PanelPool(Stored):
    """The panel's scores of one setting pooled over its seeds (core.panel.pool_panel)."""

    seeds: int
    top1: dict[str, Number]
    median: Number
    range: Span
    identified_by_all: Number
    n: int
    flagged: list[str]


class PanelRow(PanelPool):
    """The panel per lambda of a sweep (core.panel.summarise_panel)."""

    lambda_: float = Field(alias="lambda")


class PanelJudge(Stored):
    name: str
    key: str
    heldout_accuracy: Estimate


class PanelVerdict(Stored):
    """A study regime's verdicts by the study's rule with one panel judge's top-1."""

    name: str
    verdict: str
    verdict_mid_reference: str


class Reused(Stored):
    """Whether a point's target and attack were loaded (stored or shipped) rather than computed."""

    target: bool
    attack: bool


class SweepRun(Stored):
    """One (lambda, seed) of a sweep: the target's and the attack's figures and where their tensors are (the
    store's paths in a results file, the zoo's file names in its manifest)."""

    lambda_: float = Field(alias="lambda")
    seed: int
    target_key: str
    attack_key: str
    test: TestScores
    attack: AttackScores
    test_by_mode: dict[str, TestScores] = {}
    test_queried: TestScores | None = None  # the function the attacker queried, when not the deployed one
    final_kl: Number = None
    attack_target_confidence: Number = None
    timings: dict[str, Number] = {}
    reused: Reused | None = None
    model_path: str | None = None
    reconstructions_path: str | None = None
    grid_path: str | None = None
    weights_file: str | None = None
    reconstructions_file: str | None = None
    panel: PanelScores | None = None


class SweepRow(Stored):
    """A sweep's summary at one lambda: each estimate over its seeds (core.summaries.summarise)."""

    lambda_: float = Field(alias="lambda")
    seeds: int
    test_accuracy: Estimate
    confidence: Estimate
    entropy: Estimate
    attack_top1: Estimate
    attack_top5: Estimate
    feature_distance: Estimate
    queried_accuracy: Estimate | None = None  # when every run records the queried function's (test_queried)


ConfigT = TypeVar("ConfigT", SweepConfig, ComparisonConfig, StudyConfig)


class Run(Stored, Generic[ConfigT]):
    """What every results file records about how it was made: its config as stored, and rebuilt (`settings`)."""

    CONFIG: ClassVar[type | None] = None  # the config's dataclass

    config: dict[str, Any]
    config_hash: str
    created: str = ""
    environment: dict[str, Any] = {}
    timings: dict[str, Number] = {}
    peak_memory_mb: Number = None
    _settings: Any = pydantic.PrivateAttr(default=None)

    @pydantic.model_validator(mode="after")
    def _rebuild_config(self) -> Self:
        """`config` rebuilt as its dataclass once, on validation (core.stored_config.from_dict: its ConfigError
        names the field); `settings` does not follow later edits of the `config` dict. Its hash is checked by the
        reader of a sweep's file (core.results.checked_config), not here: results built in code (tests) may be
        named by any key."""
        if self.CONFIG is not None:
            self._settings = from_dict(self.CONFIG, self.config)
        return self

    @property
    def settings(self) -> ConfigT:
        """The config as its dataclass (SweepConfig, ComparisonConfig or StudyConfig), every field filled."""
        return self._settings


class SweepResults(Run[SweepConfig]):
    CONFIG = SweepConfig

    kind: Literal["sweep"]
    data: DataSummary
    class_names: list[str]
    evaluator: Judge
    runs: list[SweepRun]
    summary: list[SweepRow]
    data_fingerprint: str | None = None
    panel_summary: list[PanelRow] = []
    panel_judges: list[PanelJudge] = []


class ZooFiles(Stored):
    """The zoo's files (relative name -> SHA-256) and how its tensors were reduced."""

    files: dict[str, str]
    built: str = ""
    weights_dtype: str | None = None
    trajectory_frames: int | None = None
    trajectory_scale: int | None = None


class ZooManifest(Stored):
    """assets/zoo/manifest.json: the shipped sweeps (their results as a results file holds them) and files."""

    zoo: ZooFiles
    sweeps: list[SweepResults]


class PointAttack(AttackScores):
    """One attack on one defended model of a comparison."""

    attack_key: str
    grid_path: str
    reused: bool = False
    panel: PanelScores | None = None  # the judge panel's figures (core.panel.add_panel_to_comparison)


class ComparisonPoint(Stored):
    """One defended model (defense, strength, seed) of a comparison; an output defense's point also names the
    output settings (`output`)."""

    defense: str
    strength: float | None
    seed: int
    label: str
    target_key: str
    epsilon: Number = None
    privacy: dict[str, Any] | None = None
    test: TestScores
    attacks: dict[str, PointAttack]
    spread: dict[str, list[Number]] = {}
    output: dict[str, Any] | None = None
    reused: bool = False
    model_path: str | None = None


class AttackEstimates(Stored):
    top1: Estimate
    top5: Estimate
    feature_distance: Estimate
    panel: PanelPool | None = None


class ComparisonRow(Stored):
    """One defense setting of a comparison, its seeds pooled (core.summaries.summarise_points)."""

    defense: str
    strength: float | None
    label: str
    seeds: int
    epsilon: Number = None
    test_accuracy: Estimate
    confidence: Estimate
    entropy: Estimate
    attacks: dict[str, AttackEstimates]


class FrontierReport(Stored):
    frontiers: dict[str, list[str]]
    verdict: str
    sentence: str
    control: str = ""
    panel: dict[str, str] = {}  # each panel judge's verdict on the same frontiers (core.panel.panel_frontiers)


class ComparisonResults(Run[ComparisonConfig]):
    CONFIG = ComparisonConfig

    kind: Literal["comparison"]
    data: DataSummary
    attacks: list[str]
    evaluator: Judge
    points: list[ComparisonPoint]
    summary: list[ComparisonRow]
    frontiers: dict[str, FrontierReport]
    panel_judges: list[PanelJudge] = []


class StudyAttack(AttackScores):
    panel: PanelScores | None = None  # the judge panel's figures (core.panel.add_panel_to_study)


class StudyPoint(Stored):
    """One model of a study's regime: MID at a lambda, or the undefended reference (lambda null)."""

    level: Level
    defense: str
    label: str
    lambda_: float | None = Field(alias="lambda")
    seed: int
    target_key: str
    attack_key: str
    test: TestScores
    attack: StudyAttack
    grid_path: str | None = None
    final_kl: Number = None
    compute_s: dict[str, Number] = {}
    reused: Reused | None = None


class StudyRow(SweepRow):
    defense: str
    label: str
    lambda_: float | None = Field(alias="lambda")
    balanced_accuracy: Estimate | None = None
    panel: PanelPool | None = None


class StudyVerdict(Stored):
    verdict: str
    reason: str | None = None
    reference: str | None = None
    matched: list[str] = []
    best: str | None = None
    level: Number = None


class Regime(Stored):
    """One level of a study's factor: its models, their rows, the verdict and the finding in words."""

    level: Level
    points: list[StudyPoint]
    rows: list[StudyRow]
    verdict: StudyVerdict
    finding: str
    frontier: list[str] = []
    frontier_comparison: dict[str, Any] = {}
    evaluator: Judge | None = None
    data: DataSummary | None = None
    sweep_hash: str | None = None
    timings: dict[str, Number] = {}
    verdict_mid_reference: StudyVerdict | None = None  # against MID at lambda = 0 (files from before it lack it)
    finding_mid_reference: str | None = None
    panel_judges: list[PanelJudge] = []
    panel_verdicts: list[PanelVerdict] = []  # the rule with each panel judge's top-1 (core.panel.judge_verdicts)


class StudyResults(Run[StudyConfig]):
    CONFIG = StudyConfig

    kind: Literal["study"]
    factor: str
    levels: list[Level]
    lambdas: list[float]
    seeds: list[int]
    regimes: list[Regime]
    findings: list[str]
    verdicts: list[dict[str, Any]] = []
    rule: str = ""
    compute_s: Number = None


class JoinedRun(SweepRun):
    """A run of a sweep joined from several files (core.results.join_results): the file it comes from (`origin`,
    `results_key`) and whether another judge scored it; a run of one file has none of these."""

    origin: str | None = None
    results_key: str | None = None
    other_judge: bool = False


class JoinedRow(SweepRow):
    """A summary row of a joined sweep: where it comes from, and another judge's record when it scored it."""

    origin: str | None = None
    other_judge: bool = False
    evaluator: Judge | None = None


class JoinedSweep(SweepResults):
    """A sweep as the dashboard shows it: one results file, or several of one template joined (`members`, the
    files' hashes); a shipped one also holds the zoo's files (`zoo`)."""

    runs: list[JoinedRun]
    summary: list[JoinedRow]
    members: list[str] = []
    zoo: ZooFiles | None = None


RESULT_KINDS: dict[str, type[Run]] = {"sweep": SweepResults, "comparison": ComparisonResults, "study": StudyResults}
