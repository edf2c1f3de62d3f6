"""Files written atomically and read defensively; no torch here, so light readers (the dashboard) stay fast."""

from __future__ import annotations

import json
import logging
import math
import os
import stat
import tempfile
from pathlib import Path
from typing import Any, BinaryIO

from core.errors import NotRegularFileError, SchemaError, StoreError

log = logging.getLogger("midlab")




_KINDS = {stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket", stat.S_IFCHR: "a character device",
          stat.S_IFBLK: "a block device", stat.S_IFDIR: "a folder"}


def require_regular(path: Path, mode: int) -> None:
    """Raise NotRegularFileError unless `mode` (a stat result's st_mode) is a regular file's."""
    if not stat.S_ISREG(mode):
        kind = _KINDS.get(stat.S_IFMT(mode), "not a regular file")
        raise NotRegularFileError(f"{path} is {kind}, not a regular file; remove it")


def open_regular(path: Path) -> BinaryIO:
    """`path` opened for reading in binary, if it is a regular file. A FIFO, socket, device or folder raises
    NotRegularFileError (an OSError, so every reader's existing report applies) at once: it is checked before
    opening, and opened without blocking and checked again, so one swapped in between cannot block either.
    Every file MID Lab reads (records, results, manifests, tensors, images) is opened here."""
    require_regular(path, os.stat(path).st_mode)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # on a regular file, O_NONBLOCK changes nothing
    try:
        require_regular(path, os.fstat(fd).st_mode)
    except OSError:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def read_regular(path: Path) -> bytes:
    """A regular file's bytes (see open_regular)."""
    with open_regular(path) as f:
        return f.read()


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, flush it to disk, then rename over `path` in one step."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as error:
        raise StoreError(f"cannot write to {path.parent}: {error.strerror or error}") from error
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as error:
        Path(tmp).unlink(missing_ok=True)
        raise StoreError(f"cannot write {path}: {error.strerror or error}") from error
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def unwritable(folder: Path) -> str | None:
    """Why files cannot be written into `folder` (made if missing), or None when they can; nothing is created."""
    existing = folder
    while not (existing.exists() or existing.is_symlink()) and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} cannot be written"
    return None


def _finite_json(value: Any) -> Any:
    """JSON has no NaN: write non-finite floats as null so every reader can parse the file."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_json(v) for v in value]
    return value


def write_json_atomic(path: Path, value: Any, compact: bool = False) -> None:
    """Write `value` as JSON, atomically: indented for people to read, or `compact` (a file that ships, read only
    by MID Lab: half the bytes)."""
    text = json.dumps(_finite_json(value), sort_keys=True,
                      **({"separators": (",", ":")} if compact else {"indent": 2}))
    write_atomic(path, text.encode())


def json_content(path: Path) -> Any:
    """A JSON file's content. A missing file raises FileNotFoundError; one that cannot be read or parsed
    (truncated, not text, nested too deeply for Python's parser) raises SchemaError naming it and why."""
    try:
        return json.loads(read_regular(path))
    except FileNotFoundError:
        raise
    except RecursionError:
        raise SchemaError(f"{path} is nested too deeply to be a MID Lab file; remove it") from None
    except (OSError, UnicodeDecodeError, ValueError) as error:  # ValueError: json's own, and integer limits
        why = error.strerror if isinstance(error, OSError) and error.strerror else error
        raise SchemaError(f"{path} is unreadable ({why})") from None


def read_json(path: Path) -> Any | None:
    """A JSON file's content, or None (with a warning) when it is missing, unreadable or truncated."""
    try:
        return json_content(path)
    except FileNotFoundError:
        return None
    except SchemaError as error:
        log.warning("ignoring it: %s; it will be recomputed", error)
        return None
