"""Trained models and attack results on disk, keyed by config hash, written atomically, loaded without code.

An entry is a folder `<root>/<kind>/<hash>/` holding `tensors.safetensors` and `record.json`. The tensors are
written first, the record last, and the record carries the tensors' SHA-256: an entry whose record is missing,
unreadable or names other bytes (a crash mid-write, a truncated copy) is reported and treated as absent, so
the caller recomputes it and no half-written file is ever used. Nothing here unpickles: safetensors and JSON
cannot carry code.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import nn

from core.files import StoreError, read_json, write_atomic, write_json_atomic

log = logging.getLogger("midlab")

TENSORS = "tensors.safetensors"
RECORD = "record.json"


class Store:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, kind: str, key: str) -> Path:
        return self.root / kind / key

    @contextmanager
    def lock(self, kind: str, key: str) -> Iterator[None]:
        """Hold an exclusive lock on one entry across processes and threads, so two sweeps over one store never
        compute the same entry at once: the second waits, then finds it stored. The lock file stays in place;
        the kernel releases the lock when its holder dies, even by SIGKILL.
        A store that cannot be written is read without a lock; if the entry is not there, this fails at once
        rather than after the caller has spent minutes computing something it cannot save."""
        path = self.root / kind / f".{key}.lock"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(path, "a")  # noqa: SIM115 -- held open for the lock's lifetime
        except OSError as error:
            if self.record(kind, key) is None:
                raise StoreError(
                    f"the store {self.root} cannot be written ({error.strerror or error}) and does not hold {kind} "
                    f"{key}: point --store or MIDLAB_STORE at a writable folder") from error
            yield
            return
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()

    def save(self, kind: str, key: str, tensors: dict[str, torch.Tensor], record: dict[str, Any],
             files: dict[str, bytes] | None = None) -> Path:
        """Write an entry: its extra files (e.g. a picture) and tensors first, then the record that vouches for
        them, so an entry whose record is there is whole."""
        folder = self.path(kind, key)
        for name, content in (files or {}).items():
            write_atomic(folder / name, content)
        data = save_safetensors({k: v.detach().cpu().contiguous() for k, v in tensors.items()})
        write_atomic(folder / TENSORS, data)
        write_json_atomic(folder / RECORD, {**record, "key": key, "tensors_sha256": hashlib.sha256(data).hexdigest()})
        return folder

    def record(self, kind: str, key: str) -> dict[str, Any] | None:
        """The entry's record if it exists and is whole, else None."""
        record = read_json(self.path(kind, key) / RECORD)
        if record is not None and (not isinstance(record, dict) or "tensors_sha256" not in record):
            log.warning("ignoring malformed record in %s; it will be recomputed", self.path(kind, key))
            return None
        return record

    def load(self, kind: str, key: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
        """An entry's tensors and record, or None when absent, incomplete or corrupt (reported)."""
        record = self.record(kind, key)
        if record is None:
            return None
        path = self.path(kind, key) / TENSORS
        try:
            data = path.read_bytes()
        except OSError as error:
            log.warning("ignoring %s (%s); it will be recomputed", path, error)
            return None
        if hashlib.sha256(data).hexdigest() != record["tensors_sha256"]:
            log.warning("ignoring %s: its bytes do not match its record (interrupted write?)", path)
            return None
        try:
            return load_safetensors(data), record
        except (SafetensorError, ValueError, RuntimeError) as error:
            log.warning("ignoring corrupt %s (%s); it will be recomputed", path, error)
            return None

    def load_model(self, kind: str, key: str, model: nn.Module) -> dict[str, Any] | None:
        """Fill `model` with stored weights; None when absent, corrupt or of the wrong shapes (reported)."""
        loaded = self.load(kind, key)
        if loaded is None:
            return None
        tensors, record = loaded
        try:
            model.load_state_dict(tensors, strict=True)
        except RuntimeError as error:
            log.warning("ignoring %s: its weights do not fit the model (%s)", self.path(kind, key),
                        str(error).splitlines()[0])
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
    def lock(self, kind: str, key: str) -> Iterator[None]:
        yield  # one task, one thread: nothing to wait for

    def save(self, kind: str, key: str, tensors: dict[str, torch.Tensor], record: dict[str, Any],
             files: dict[str, bytes] | None = None) -> Path:
        # Copies: the caller may go on training the model whose weights these are (a judge's fine-tuning).
        copies = {k: v.detach().to("cpu", copy=True) for k, v in tensors.items()}
        self.entries[kind, key] = self.new[kind, key] = (copies, record, dict(files or {}))
        return self.path(kind, key)

    def record(self, kind: str, key: str) -> dict[str, Any] | None:
        entry = self.entries.get((kind, key))
        return None if entry is None else entry[1]

    def load(self, kind: str, key: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
        entry = self.entries.get((kind, key))
        return None if entry is None else (entry[0], entry[1])
