"""The defaults chosen for a dataset and for the default study, each with the reason it was chosen (and when: before
or after which results were seen)."""

from __future__ import annotations

import dataclasses

from core.attack_config import AttackConfig, framed_for
from core.config import DataConfig, EvaluatorConfig, TargetConfig, TrainConfig
from core.study_design import StudyConfig, parse_levels
from core.sweep_config import SweepConfig

# LFW's private people have 20 to 530 photos; capping each at this many keeps one person (George W Bush)
# from being a sixth of the data, so accuracy is not mostly "is it Bush?" (balanced accuracy is reported too).
LFW_CAP = 60

# Where a dataset departs from the dataclass defaults (which are ORL's), chosen before any attack result on it
# was seen. LFW: each person capped at LFW_CAP photos; 30 training epochs (20 reached test accuracy 0.77,
# 30 reached 0.85); a wider judge, as at width 16 it underfit LFW's 62 people (0.79 training accuracy) and
# width 32 reached 0.83 held-out accuracy, width 48 0.86, and width 48 without photometric augmentation 0.89.
# That last change (for every dataset's judge, see EvaluatorConfig.photometric) came after attack results were
# seen; it is kept for the held-out accuracy. LFW's judge ships in assets/store (`python -m core judge`).
LFW_TARGET_EPOCHS = 30
LFW_JUDGE = {"width": 48, "epochs": 60}


def sweep_defaults(dataset: str, folder: str = "") -> SweepConfig:
    """The default sweep for a private dataset: the dataclass defaults, the departures above, and the
    attacker's public faces framed like the dataset's photos."""
    lfw = dataset == "lfw"
    data = DataConfig(dataset=dataset, folder=folder, max_per_identity=LFW_CAP if lfw else 0)
    train = TrainConfig(epochs=LFW_TARGET_EPOCHS) if lfw else TrainConfig()
    evaluator = EvaluatorConfig(data=data, **(LFW_JUDGE if lfw else {}))
    return SweepConfig(target=TargetConfig(data=data, train=train), attack=framed_for(dataset, AttackConfig()),
                       evaluator=evaluator)


# The default CPU study (`python -m core study` without --factor): ORL's default sweep at DEFAULT_STUDY_LAMBDAS,
# seeds 0, 1, 2, MI-Face, the attacker querying the deployed model (the default view), one factor at a time.
# Chosen before any study result was seen, from test accuracy alone: the lambdas are the default grid's values at
# which the zoo's MID models stay within 0.1 of the undefended test accuracy (0.003 to 0.03; at 0.1 it falls to
# 0.33, where no model can match the undefended one). The factors: the attack (the claim under test concerns
# prior-based white-box attacks), both controls, and the bottleneck size. Its time is measured by `python -m core
# benchmark --study` (goal: <= 60 minutes on 2 cores). It was first run and shipped with a white-box attacker (mu
# view); it was run again under the deployed view when that became the default.
DEFAULT_STUDY_LAMBDAS = (0.003, 0.01, 0.03)
DEFAULT_STUDY_SEEDS = (0, 1, 2)
DEFAULT_STUDY_SUITE: tuple[tuple[str, str], ...] = (
    ("attack", "miface,gmi,inversion"),
    ("predict_from_mu", "false,true"),
    ("label_smoothing", "-0.1,0,0.1"),
    ("bottleneck", "8,64"),
)


def default_studies() -> list[StudyConfig]:
    """The default CPU study: one StudyConfig per factor of DEFAULT_STUDY_SUITE, on one base."""
    base = dataclasses.replace(sweep_defaults("orl"), lambdas=DEFAULT_STUDY_LAMBDAS, seeds=DEFAULT_STUDY_SEEDS)
    return [StudyConfig(base=base, factor=factor, levels=parse_levels(factor, levels))
            for factor, levels in DEFAULT_STUDY_SUITE]
