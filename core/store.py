"""Trained models and attack results on disk, keyed by config hash, written atomically, loaded without code.

An entry is a folder `<root>/<kind>/<hash>/` holding `tensors.safetensors` and `record.json`. The tensors are
written first, the record last, and the record carries the tensors' SHA-256: an entry whose record is missing,
unreadable or names other bytes (a crash mid-write, a truncated copy) is reported and treated as absent, so
the caller recomputes it and no half-written file is ever used. Nothing here unpickles: safetensors and JSON
cannot carry code.

A caller that says what it expects (`Expected`) is served an entry only when it is that entry: the folder's key,
the record's key and the hash of the config rebuilt from the record agree (an entry copied under another key or
an edited record is refused), and the record's data fingerprint matches the data at hand (a result never
outlives the photos it came from). A record from before fingerprints adopts the current one on first load.
Every record is checked against its schema on load (core.record_types: StoreRecord; with `Expected`, its kind's
fields too): one cut short, or with a missing or mistyped field, is refused like the others, and so are tensors
whose checksum matches but whose names, dtypes or shapes are not what `Expected` says (an attack's: see
core.reconstruction_shapes). Every entry refused is reported with why, and the reason goes into the record of
its recomputed replacement; from a store that cannot be written, it is a StoreError at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch
from filelock import FileLock
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import nn

from core.errors import ConfigError, NotRegularFileError, SchemaError, StoreError, validated
from core.files import (
    json_content,
    read_regular,
    require_regular,
    write_atomic,
    write_json_atomic,
)
from core.record_types import KIND_RECORDS, StoreRecord
from core.stored_config import config_hash

log = logging.getLogger("midlab")
T = TypeVar("T")

TENSORS = "tensors.safetensors"
RECORD = "record.json"
FINGERPRINT = "data_fingerprint"  # the record's field: {"private": ..., "public": ...}, the parts that apply


@dataclass(frozen=True)
class Expected:
    """What a stored entry must be to be served. `named_by` rebuilds, from a record, the config object whose
    hash is the entry's key; `fingerprint` holds the digest of each part of the data the entry is computed
    from (core.data: PreparedData.fingerprint, public_fingerprint); a part that cannot be fingerprinted here
    (its folder is absent) is None and not compared. `tensors_error`, when given, says what is wrong with the
    entry's tensors for what the caller will build from them (names, dtypes, shapes), or None."""

    named_by: Callable[[dict[str, Any]], Any]
    fingerprint: dict[str, str | None]
    tensors_error: Callable[[dict[str, torch.Tensor]], str | None] | None = None

    @property
    def known(self) -> dict[str, str]:
        """The fingerprint to record: the parts that could be computed."""
        return {part: digest for part, digest in self.fingerprint.items() if digest is not None}

    def mismatch(self, key: str, record: dict[str, Any]) -> str | None:
        """Why `record`, found under `key`, is not the entry expected; None when it is."""
        named = {"key": record.get("key"), "config_hash": record.get("config_hash", key)}
        wrong = [f"{field} {value!r}" for field, value in named.items() if value != key]
        if wrong:
            return f"its record names {' and '.join(wrong)} (copied from another entry?)"
        try:
            named = config_hash(self.named_by(record))
        except KeyError as error:
            return f"its record has no {error} field (written by an older version)"
        except (ConfigError, TypeError, ValueError) as error:
            return f"the config in its record cannot be rebuilt ({str(error).splitlines()[0]})"
        if named != key:
            return f"the config in its record hashes to {named} (edited, or copied from another entry)"
        stored = record.get(FINGERPRINT)
        stored = stored if isinstance(stored, dict) else {}
        for part, digest in self.fingerprint.items():
            if digest is not None and stored.get(part, digest) != digest:
                return (f"the {part} data changed since it was computed (fingerprint {str(stored[part])[:12]} "
                        f"then, {digest[:12]} now)")
        return None

    def adopted(self, record: dict[str, Any]) -> dict[str, Any] | None:
        """`record` with the fingerprint parts it lacks filled in (it predates them), or None if it lacks none."""
        stored = record.get(FINGERPRINT)
        stored = stored if isinstance(stored, dict) else {}
        missing = {part: digest for part, digest in self.known.items() if part not in stored}
        return {**record, FINGERPRINT: {**stored, **missing}} if missing else None


class Store:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        # Why each entry was refused in this process, by (kind, key): save() records it in the replacement.
        self.refused: dict[tuple[str, str], str] = {}

    def path(self, kind: str, key: str) -> Path:
        return self.root / kind / key

    @contextmanager
    def lock(self, kind: str, key: str) -> Iterator[bool]:
        """Hold an exclusive lock on one entry across processes and threads, so two sweeps over one store never
        compute the same entry at once: the second waits, then finds it stored. The lock file stays in place;
        the kernel releases the lock when its holder dies, even by SIGKILL.
        A store that cannot be written is read without a lock; if the entry is not there, this fails at once
        rather than after the caller has spent minutes computing something it cannot save. Yields whether the
        store can be written."""
        path = self.root / kind / f".{key}.lock"
        # flock through filelock, never its soft fallback: a lock file left by a killed holder must not block.
        lock = FileLock(path, fallback_to_soft=False)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists():
                require_regular(path, os.stat(path).st_mode)
            lock.acquire()  # opened without blocking: a FIFO swapped in since the check cannot block it
        except NotRegularFileError as error:
            raise StoreError(str(error)) from error
        except OSError as error:
            if self.record(kind, key) is None:
                raise StoreError(
                    f"the store {self.root} cannot be written ({error.strerror or error}) and does not hold {kind} "
                    f"{key}: point --store or MIDLAB_STORE at a writable folder") from error
            yield False
            return
        try:
            yield True
        finally:
            lock.release()

    def get_or_compute(self, kind: str, key: str, load: Callable[[], T | None],
                       compute: Callable[[], T]) -> tuple[T, bool]:
        """`load()`'s entry, else `compute()`'s (which stores it), under the entry's lock: a process computing it
        now is waited for, then its entry loaded. The second value says whether it was loaded. An entry refused
        from a store that cannot be written fails at once, with why, rather than after it is computed again."""
        with self.lock(kind, key) as writable:
            found = load()
            if found is None and not writable:
                reason = self.refused.get((kind, key), "it cannot be loaded")
                raise StoreError(f"the store {self.root} cannot be written and its {kind} {key} must be recomputed "
                                 f"({reason}): point --store or MIDLAB_STORE at a writable folder")
            return (found, True) if found is not None else (compute(), False)

    def save(self, kind: str, key: str, tensors: dict[str, torch.Tensor], record: dict[str, Any],
             files: dict[str, bytes] | None = None) -> Path:
        """Write an entry: its extra files (e.g. a picture) and tensors first, then the record that vouches for
        them, so an entry whose record is there is whole (the record says why the entry it replaces was
        refused, when one was)."""
        folder = self.path(kind, key)
        for name, content in (files or {}).items():
            write_atomic(folder / name, content)
        data = save_safetensors({k: v.detach().cpu().contiguous() for k, v in tensors.items()})
        write_atomic(folder / TENSORS, data)
        reason = self.refused.pop((kind, key), None)
        write_json_atomic(folder / RECORD, {**record, **({"recomputed_because": reason} if reason else {}),
                                            "key": key, "tensors_sha256": hashlib.sha256(data).hexdigest()})
        return folder

    def refuse(self, kind: str, key: str, reason: str) -> None:
        """Report that an entry will be recomputed and why (one line), and keep the reason for its record."""
        log.warning("%s %s will be recomputed: %s", kind, key, reason)
        self.refused[(kind, key)] = reason

    def record(self, kind: str, key: str, expected: Expected | None = None) -> dict[str, Any] | None:
        """The entry's record if it exists, is whole and is what `expected` says (else reported), else None."""
        path = self.path(kind, key) / RECORD
        try:
            record = json_content(path)
            # Served to a caller that expects an entry of its kind: that kind's fields too.
            validated(KIND_RECORDS.get(kind, StoreRecord) if expected else StoreRecord, record, str(path))
        except FileNotFoundError:
            return None
        except SchemaError as error:  # cut short, or a missing or mistyped field: recomputed, never a traceback
            self.refuse(kind, key, str(error))
            return None
        if record is None or expected is None:
            return record
        reason = expected.mismatch(key, record)
        if reason is not None:
            self.refuse(kind, key, reason)
            return None
        adopted = expected.adopted(record)
        if adopted is not None:  # stored before fingerprints: it vouches for the data at hand from now on
            with contextlib.suppress(StoreError):  # a read-only store: trusted, as it was before fingerprints
                write_json_atomic(self.path(kind, key) / RECORD, adopted)
            record = adopted
        return record

    def load(self, kind: str, key: str,
             expected: Expected | None = None) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
        """An entry's tensors and record, or None when absent, incomplete, corrupt or not what `expected` says
        (reported)."""
        record = self.record(kind, key, expected)
        if record is None:
            return None
        path = self.path(kind, key) / TENSORS
        try:
            data = read_regular(path)
        except OSError as error:
            self.refuse(kind, key, f"{path} is unreadable ({error})")
            return None
        if hashlib.sha256(data).hexdigest() != record["tensors_sha256"]:
            self.refuse(kind, key, f"{path}: its bytes do not match its record (interrupted write?)")
            return None
        try:
            tensors = load_safetensors(data)
        except (SafetensorError, ValueError, RuntimeError) as error:
            self.refuse(kind, key, f"{path} is corrupt ({error})")
            return None
        # A record vouches for its tensors' bytes, not for what they are: a forged pair would fail later, deep in
        # a reader, with a traceback.
        wrong = expected.tensors_error(tensors) if expected and expected.tensors_error else None
        if wrong:
            self.refuse(kind, key, f"{path} holds {wrong}")
            return None
        return tensors, record

    def load_model(self, kind: str, key: str, model: nn.Module,
                   expected: Expected | None = None) -> dict[str, Any] | None:
        """Fill `model` with stored weights; None when absent, corrupt, of the wrong shapes or not what `expected`
        says (reported)."""
        loaded = self.load(kind, key, expected)
        if loaded is None:
            return None
        tensors, record = loaded
        try:
            model.load_state_dict(tensors, strict=True)
        except RuntimeError as error:
            self.refuse(kind, key, f"the weights in {self.path(kind, key)} do not fit the model "
                                   f"({str(error).splitlines()[0]})")
            return None
        return record

    def save_model(self, kind: str, key: str, model: nn.Module, record: dict[str, Any]) -> Path:
        return self.save(kind, key, model.state_dict(), record)


# What a MemoryStore holds per (kind, key): the tensors, the record and any extra files (name -> bytes).
Entry = tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, bytes]]


class MemoryStore(Store):
    """A store in memory, for a task on a cluster worker (core/executor.py): it reads the entries the driver
    shipped with the task and keeps what the task computes in `new`, for the driver, which alone writes the
    real store. Nothing here touches a disk, so a worker killed mid-task leaves nothing half-written."""

    def __init__(self, entries: dict[tuple[str, str], Entry]) -> None:
        super().__init__(Path("memory"))
        self.entries = dict(entries)
        self.new: dict[tuple[str, str], Entry] = {}

    @contextmanager
    def lock(self, kind: str, key: str) -> Iterator[bool]:
        yield True  # one task, one thread: nothing to wait for; what it computes goes to `new`

    def save(self, kind: str, key: str, tensors: dict[str, torch.Tensor], record: dict[str, Any],
             files: dict[str, bytes] | None = None) -> Path:
        # Copies: the caller may go on training the model whose weights these are (a judge's fine-tuning).
        copies = {k: v.detach().to("cpu", copy=True) for k, v in tensors.items()}
        self.entries[kind, key] = self.new[kind, key] = (copies, record, dict(files or {}))
        return self.path(kind, key)

    # `expected` is not checked here: the driver ships only entries it loaded with their Expected.
    def record(self, kind: str, key: str, expected: Expected | None = None) -> dict[str, Any] | None:
        entry = self.entries.get((kind, key))
        return None if entry is None else entry[1]

    def load(self, kind: str, key: str,
             expected: Expected | None = None) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
        entry = self.entries.get((kind, key))
        return None if entry is None else (entry[0], entry[1])
