"""Model inversion attacks. Each attack sees the target only through a query function (its view)."""

from core.attacks.base import Reconstruction, attacker_query
from core.attacks.gmi import run_gmi
from core.attacks.inversion import run_inversion
from core.attacks.miface import run_miface

__all__ = ["Reconstruction", "attacker_query", "run_gmi", "run_inversion", "run_miface"]
