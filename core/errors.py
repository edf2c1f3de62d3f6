"""Every error MID Lab reports to a user, under one base class, and the check that a file's content has the
shape its reader expects. A caller that shows errors catches MidLabError once; each subclass says where the
problem lies (settings, data, store, a stored file's content, ...). The classes live here, not beside the code
that raises them, so that a module can catch one without importing what raises it (torch, the trainer)."""

from __future__ import annotations

from typing import Any, TypeVar

import pydantic

T = TypeVar("T")


class MidLabError(Exception):
    """An error whose message is meant for the user: it names what is wrong and what to do."""


class ConfigError(MidLabError, ValueError):
    """A setting is out of range or unknown; the message names the setting and what is allowed."""


class DataError(MidLabError):
    """A dataset is missing or malformed. The message names the path looked at and how to get the data."""


class StoreError(MidLabError):
    """The store cannot be written (a read-only folder, a full disk); the message names the path."""


class NotRegularFileError(MidLabError, OSError):
    """Something other than a regular file (a FIFO, a socket, a device, a folder) stands where a file MID Lab
    reads should be: reading it could block for ever, so it is refused at once."""


class GalleryError(MidLabError):
    """A file the dashboard needs is missing or damaged; the message names it and how to rebuild it."""


class ReportError(MidLabError, RuntimeError):
    """A part of a report could not be written; the message says which and how to fix it."""


class TrainingDiverged(MidLabError, RuntimeError):
    """The loss became NaN or infinite; the message says when and suggests what to change."""


class ClusterError(MidLabError):
    """The cluster could not run a task (its worker or node died more often than MAX_RETRIES)."""


class SchemaError(MidLabError, ValueError):
    """A stored file's content does not have the shape its reader expects (a missing or mistyped field, a
    tensor of the wrong shape, nesting too deep). The message names the file and the first fields at fault."""


def problems(error: pydantic.ValidationError, root: str, limit: int = 3) -> str:
    """The first `limit` problems of a pydantic validation error, each as `field.path: what is wrong`."""
    return "; ".join(f"{'.'.join(str(part) for part in e['loc']) or root}: {e['msg'].removeprefix('Value error, ')}"
                     for e in error.errors()[:limit])


def validated(kind: type[T] | Any, value: Any, source: str) -> T:
    """`value` (parsed JSON) checked and converted to `kind` (a pydantic model, dataclass or type hint);
    anything that does not fit raises SchemaError naming `source` (a file's path) and the fields at fault."""
    try:
        return pydantic.TypeAdapter(kind).validate_python(value)
    except pydantic.ValidationError as error:
        raise SchemaError(f"{source} is not a valid file of its kind ({problems(error, 'the file')}); "
                          "remove it or compute it again") from None
    except RecursionError:
        raise SchemaError(f"{source} is nested too deeply to be a MID Lab file; remove it") from None
