"""Cached, bounded loaders shared by the pages: the sweeps, their reconstructions, the original faces and the
defense comparisons.

Every cache has max_entries, so a server that runs for weeks keeps a bounded amount in memory
(tests/test_robustness.py checks every cache in dashboard/)."""

import base64
import io
from pathlib import Path

import numpy as np
import streamlit as st
from PIL import Image

from core import gallery
from core.config import DataConfig
from core.errors import SchemaError
from core.files import read_regular
from core.gallery import Sweep, available_sweeps, original_faces, photos_changed
from core.paths import data_root, results_root
from core.presets import DEFAULT_STUDY_SUITE
from core.result_types import ComparisonResults, Run, StudyResults
from core.results import COMPARISONS_DIR, STUDIES_DIR, list_results, read_typed
from dashboard.state import lambda_text
from dashboard.text import plain

ORIGINALS_TTL_S = 3600


@st.cache_data(max_entries=8, show_spinner=False)
def _sweeps(results_dir: str, zoo_dir: str, signature: tuple) -> tuple[list[Sweep], list[str]]:
    return available_sweeps(Path(results_dir), Path(zoo_dir))


def sweeps() -> list[Sweep]:
    """The zoo and the results folder's sweeps, re-read when a results file appears or changes; each
    unreadable results file is reported on the page."""
    folder = results_root()
    files = sorted(folder.glob("sweep_*.json")) if folder.is_dir() else []
    found, problems = _sweeps(str(folder), str(gallery.ZOO_DIR), tuple((p.name, p.stat().st_mtime) for p in files))
    for problem in problems:
        st.warning(plain(problem))
    return found


@st.cache_data(max_entries=64, show_spinner=False)
def _reconstructions(_sweep: Sweep, sweep_version: str, mid_lambda: float) -> np.ndarray:
    return _sweep.reconstructions(mid_lambda)


def reconstructions(sweep: Sweep, mid_lambda: float) -> np.ndarray:
    """uint8 (C, H, W); raises core.gallery.GalleryError for a missing or damaged file."""
    return _reconstructions(sweep, sweep.version, mid_lambda)


@st.cache_data(max_entries=16, show_spinner=False)
def _face_sources(_sweep: Sweep, sweep_key: str, labels: tuple[int, ...]) -> dict[str, list[str]]:
    sources = {}
    for mid_lambda in _sweep.lambdas:
        faces = _sweep.reconstructions(mid_lambda)
        sources[lambda_text(mid_lambda)] = [png_data_url(faces[label]) for label in labels]
    return sources


def face_sources(sweep: Sweep, labels: tuple[int, ...]) -> dict[str, list[str]]:
    """The reconstructions of the people `labels` at every lambda of a sweep, as PNG data URLs keyed by the
    lambda as the slider shows it: what the browser swaps in as the slider moves. Raises
    core.gallery.GalleryError for a missing or damaged file."""
    return _face_sources(sweep, sweep.key, labels)


def png_data_url(image: np.ndarray) -> str:
    """A uint8 image (H, W) as a data: URL of a PNG."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


@st.cache_data(max_entries=4, ttl=ORIGINALS_TTL_S, show_spinner="Reading the original faces...")
def originals(data_config: DataConfig, root: str) -> tuple[np.ndarray, list[str], str]:
    """One training photo per identity, the names and the data's fingerprint; raises core.data.DataError when the
    dataset is missing. Cached for an hour only: unlike results files, a dataset folder has no cheap signature to
    notice a change by."""
    return original_faces(data_config, Path(root))


def sweep_originals(sweep: Sweep) -> tuple[np.ndarray, list[str]]:
    """One photo per person of a sweep from today's dataset, and the names, with a warning on the page when they
    are not the photos the sweep's results came from; raises core.data.DataError when the dataset is missing."""
    faces, names, fingerprint = originals(sweep.typed.settings.target.data, str(data_root()))
    if changed := photos_changed(sweep, fingerprint):
        st.warning(changed)
    return faces, names


@st.cache_data(max_entries=16, show_spinner=False)
def _trajectory(_sweep: Sweep, sweep_version: str, mid_lambda: float) -> tuple[np.ndarray, list[int], np.ndarray]:
    return _sweep.trajectory(mid_lambda)


def trajectory(sweep: Sweep, mid_lambda: float) -> tuple[np.ndarray, list[int], np.ndarray]:
    """Recorded frames uint8 (T, C, H, W), their steps, and the target's confidence (T, C)."""
    return _trajectory(sweep, sweep.version, mid_lambda)


def require_sweeps() -> list[Sweep]:
    """The available sweeps; with none, the page says how to make them and stops."""
    found = sweeps()
    if not found:
        st.info("No results to show: the shipped zoo `assets/zoo` is missing and "
                f"{plain(results_root().resolve())} holds no sweep. Rebuild the zoo with `python -m core zoo`, or run "
                "`python -m core sweep` (about five "
                "minutes on two CPU cores); `MIDLAB_RESULTS=DIR` points the dashboard at another results folder.")
        st.stop()
    return found


def sweep_selector(label: str, help_text: str, container=st) -> Sweep:
    """A selectbox over the zoo and the user's sweeps (the zoo first)."""
    by_key = {s.key: s for s in require_sweeps()}
    return by_key[container.selectbox(label, list(by_key), format_func=lambda k: by_key[k].label, help=help_text)]


@st.cache_data(max_entries=32, show_spinner=False)
def _results(path: str, mtime: float, kind: str) -> tuple[Run | None, str]:
    try:
        return read_typed(Path(path), kind), ""
    except SchemaError as error:
        return None, str(error)


def readable(kind: str, files: list[Path], command: str) -> list[tuple[Path, Run]]:
    """Every valid results file of a kind with its path, re-read when the file changes; an invalid one is named
    on the page with what is wrong and skipped (files are replaced atomically, so one being written appears whole
    or not at all)."""
    found = []
    for path in files:
        try:
            mtime = path.stat().st_mtime
        except OSError:  # deleted since the folder was listed
            continue
        results, problem = _results(str(path), mtime, kind)
        if results is None:
            st.warning(f"Skipped a {kind} file: {plain(problem)}; `{command}` rewrites it.")
        else:
            found.append((path, results))
    return found


def comparisons() -> list[tuple[Path, ComparisonResults]]:
    """The shipped comparisons, newest made first (a checkout gives shipped files arbitrary modification times:
    their own 'created' orders them), then the results folder's, newest first."""
    command = "python -m core compare"
    shipped = readable("comparison", list_results(COMPARISONS_DIR, "comparison"), command)
    return [*sorted(shipped, key=lambda item: item[1].created, reverse=True),
            *readable("comparison", list_results(results_root(), "comparison"), command)]


def studies() -> list[tuple[Path, StudyResults]]:
    """The shipped regime studies in the default study's order (the attack first), then the results folder's,
    newest first."""
    order = [factor for factor, _ in DEFAULT_STUDY_SUITE]
    shipped = readable("study", list_results(STUDIES_DIR, "study"), "python -m core study")
    shipped.sort(key=lambda item: order.index(item[1].factor) if item[1].factor in order else len(order))
    return [*shipped, *readable("study", list_results(results_root(), "study"), "python -m core study")]


def grid_image(grid_path: str, folder: Path, what: str, rerun: str) -> Image.Image | None:
    """A reconstruction grid PNG (a relative path is read from `folder`, the results file's own), or None after
    a warning that names `what` it shows and the command that `rerun`s it."""
    path = Path(grid_path)
    path = path if path.is_absolute() else folder / path
    try:
        with Image.open(io.BytesIO(read_regular(path))) as image:
            return image.convert("RGB")
    except OSError as error:
        st.warning(f"The reconstructions of {plain(what)} cannot be shown: {plain(path)} is missing or damaged "
                   f"({type(error).__name__}). {rerun} rewrites them.")
        return None
