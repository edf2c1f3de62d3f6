"""The engine's two seams: the store's get_or_compute (load under the entry's lock, else compute once) and the
attack registry it dispatches through. End-to-end records are tests/test_store.py's and tests/test_zoo.py's."""

from __future__ import annotations

import dataclasses
import threading

from core.attack_config import ATTACKS, AttackConfig
from core.attack_inputs import PROVIDERS
from core.attacks import REGISTRY, AttackInputs
from core.store import Store


def test_get_or_compute_computes_once_and_then_loads(tmp_path):
    store = Store(tmp_path)
    saved: dict[str, str] = {}
    calls = []

    def compute() -> str:
        calls.append(threading.get_ident())
        saved["value"] = "computed"
        return "computed"

    assert store.get_or_compute("targets", "k", lambda: saved.get("value"), compute) == ("computed", False)
    assert store.get_or_compute("targets", "k", lambda: saved.get("value"), compute) == ("computed", True)
    assert len(calls) == 1 and (tmp_path / "targets" / ".k.lock").is_file()


def test_get_or_compute_waits_for_the_process_computing_the_entry(tmp_path):
    """A second caller arriving while the first computes waits for the lock, then loads what it stored."""
    store, saved = Store(tmp_path), {}
    computing, release = threading.Event(), threading.Event()

    def slow_compute() -> str:
        computing.set()
        assert release.wait(30)
        saved["value"] = "first"
        return "first"

    outcomes = {}
    first = threading.Thread(target=lambda: outcomes.update(
        first=store.get_or_compute("attacks", "k", lambda: saved.get("value"), slow_compute)))
    first.start()
    assert computing.wait(30)
    second = threading.Thread(target=lambda: outcomes.update(
        second=store.get_or_compute("attacks", "k", lambda: saved.get("value"), lambda: "second")))
    second.start()
    release.set()
    first.join(30)
    second.join(30)
    assert outcomes == {"first": ("first", False), "second": ("first", True)}


def test_every_attack_is_registered_with_inputs_the_engine_provides():
    assert set(REGISTRY) == set(ATTACKS)
    inputs = {field.name for field in dataclasses.fields(AttackInputs)}
    for name, attack in REGISTRY.items():
        assert set(attack.needs) <= set(PROVIDERS) <= inputs, name
        config = dataclasses.replace(AttackConfig(), attack=name)
        assert attack.seed(config) == getattr(config, name).seed  # each attack seeds from its own settings
