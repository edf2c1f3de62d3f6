"""`python -m core fetch orl|lfw|mnist|olivetti|all`: download each dataset from its public source, verify the
pinned SHA-256 of every archive, and lay it out exactly as core/data.py reads it, with a PROVENANCE.md beside it.

Downloads resume over HTTP Range from <data>/.downloads/<file>.part. A dataset is assembled in a hidden folder
beside its place and renamed into it in one step, so an interrupted fetch never leaves half a dataset where the
loaders look. core/layouts.py unpacks each dataset's archives and checks the result.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import http.client
import os
import shutil
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO
from urllib.error import HTTPError
from urllib.request import Request, urlopen

from core.data import fetch_command
from core.errors import DataError
from core.files import open_regular
from core.layouts import (
    LFW_MIN_IMAGES,
    LFW_PRIVATE,
    check_lfw,
    check_mnist,
    check_people,
    lay_out_lfw,
    lay_out_mnist,
    lay_out_olivetti,
    lay_out_orl,
)
from core.runtime import ProgressLine

ATTEMPTS_PER_URL = 3  # a dropped connection resumes from the bytes already on disk
CHUNK = 1 << 16
MNIST_FILES = tuple(f"{split}-{part}-ubyte.gz" for split in ("train", "t10k")
                    for part in ("images-idx3", "labels-idx1"))


@dataclass(frozen=True)
class Archive:
    """One file to download: its name, its pinned SHA-256, and where to get it (the source first, then mirrors)."""

    filename: str
    sha256: str
    urls: tuple[str, ...]


@dataclass(frozen=True)
class Source:
    """A dataset: its folder under the data root, its archives, how to lay them out and check the result (a
    one-line summary, or DataError), and what its PROVENANCE.md says."""

    name: str
    folder: str
    archives: tuple[Archive, ...]
    lay_out: Callable[[Sequence[Path], Path], None]
    check: Callable[[Path], str]
    title: str
    terms: str
    citation: str
    notes: str = ""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open_regular(path) as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _transfer(url: str, part: Path, label: str, stream: TextIO | None) -> None:
    """Append the rest of `url` to `part` (a Range request when some is there); restart when the server ignores
    the range. A connection dropped before the announced length raises, keeping what arrived."""
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "midlab-fetch"} | ({"Range": f"bytes={offset}-"} if offset else {})
    try:
        response = urlopen(Request(url, headers=headers), timeout=60)
    except HTTPError as error:
        if error.code == 416 and offset:  # nothing left to send: the digest decides whether the file is whole
            return
        raise
    with response:
        partial = getattr(response, "status", None) == 206
        resumed = offset and partial and response.headers.get("Content-Range", "").startswith(f"bytes {offset}-")
        if partial and not resumed:  # a range other than the one asked for: the next try starts from zero
            part.unlink(missing_ok=True)
            raise ConnectionError(f"the server sent the range {response.headers.get('Content-Range')}")
        done = offset if resumed else 0
        length = response.headers.get("Content-Length")
        total = done + int(length) if length and length.isdigit() else 0
        bar = ProgressLine(stream, byte_counts=True) if stream else None
        shown = done
        with part.open("ab" if resumed else "wb") as f:
            while chunk := response.read(CHUNK):
                f.write(chunk)
                done += len(chunk)
                if bar and done - shown >= 1 << 20 and done < total:
                    bar(label, done, total)
                    shown = done
        if total and done < total:
            raise ConnectionError(f"the connection closed after {done} of {total} bytes")
        if bar:
            bar(label, done, max(total, done))


def download(archive: Archive, folder: Path, stream: TextIO | None = sys.stderr) -> Path:
    """The archive in `folder`, verified against its pinned SHA-256: kept from an earlier fetch, resumed, or
    downloaded, trying each URL in turn. A file with another digest is deleted; DataError when no URL gives it."""
    path = folder / archive.filename
    if path.exists():
        if sha256_of(path) == archive.sha256:
            return path
        path.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    failures = []
    for url in archive.urls:
        error: Exception | None = None
        for _ in range(ATTEMPTS_PER_URL):
            try:
                _transfer(url, part, archive.filename, stream)
                error = None
                break
            except HTTPError as refused:  # the server answered no: another try will not change that
                error = refused
                break
            except (OSError, http.client.HTTPException) as dropped:  # URLError, timeouts, IncompleteRead
                error = dropped
        if error is not None:
            failures.append(f"{url}: {error}")
            continue
        digest = sha256_of(part)
        if digest == archive.sha256:
            os.replace(part, path)
            return path
        part.unlink()
        failures.append(f"{url} gave {archive.filename} with SHA-256 {digest}, not the pinned {archive.sha256}; "
                        "the file was deleted")
    _remove_if_empty(folder)  # a partial download stays, for the next fetch to resume
    raise DataError(f"could not get {archive.filename}: " + "; ".join(failures))


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not empty: other downloads are in it
        folder.rmdir()


def provenance(source: Source) -> str:
    archives = "\n".join(f"* `{a.filename}`, SHA-256 `{a.sha256}`, from " + ", else ".join(a.urls)
                         for a in source.archives)
    notes = f"\n## Notes\n\n{source.notes}\n" if source.notes else ""
    return (f"# {source.title}\n\nWritten by `python -m core fetch {source.name}` on {datetime.date.today()} from "
            f"the archives below, each verified against its pinned SHA-256 before use.\n\n## Source\n\n{archives}\n\n"
            f"## Licence / terms\n\n{source.terms}\n\n## Citation\n\n{source.citation}\n{notes}")


def fetch(source: Source, root: Path, stream: TextIO | None = sys.stderr) -> str:
    """Download, verify and lay out one dataset under root; a dataset already in place is checked and left
    alone. Returns a one-line report; DataError when it cannot (nothing half-written is left where loaders look)."""
    target = root / source.folder
    if target.exists():
        try:
            summary = source.check(target)
        except DataError as error:
            raise DataError(f"{target} exists but is not a complete {source.name} dataset ({error}); move it "
                            f"aside, then run {fetch_command(source.name, root)} again") from None
        return f"{source.name}: already in place at {target} ({summary}); verified, nothing downloaded"
    downloads = root / ".downloads"
    paths = [download(archive, downloads, stream) for archive in source.archives]
    staging = Path(tempfile.mkdtemp(prefix=f".{source.folder}.", suffix=".fetching", dir=root))
    try:
        source.lay_out(paths, staging)
        summary = source.check(staging)
        (staging / "PROVENANCE.md").write_text(provenance(source))
        staging.chmod(0o755)
        os.replace(staging, target)
    except DataError as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise DataError(f"{', '.join(p.name for p in paths)} did not give a complete {source.name} dataset "
                        f"({error})") from None
    except (OSError, zipfile.BadZipFile, tarfile.TarError, ValueError, KeyError) as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise DataError(f"cannot unpack {', '.join(p.name for p in paths)} into {target}: {error}") from error
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    for path in paths:
        path.unlink(missing_ok=True)
    _remove_if_empty(downloads)
    return f"{source.name}: wrote {target} ({summary})"


SOURCES: dict[str, Source] = {source.name: source for source in (
    Source(
        name="orl", folder="att_faces", lay_out=lay_out_orl, check=check_people,
        archives=(Archive("att_faces.zip", "509d763bd2276aa054d260d7f1000e8be212738134f2f83d8ff13bc2adf1c8ec", (
            "https://www.cl.cam.ac.uk/Research/DTG/attarchive/pub/data/att_faces.zip",
            "https://raw.githubusercontent.com/informramiz/opencv-face-recognition-python/"
            "37054056ff2a525d042be1880daaa4e71d1bb9eb/att_faces.zip")),),
        title="AT&T / ORL Database of Faces (the original PGM files)",
        terms="The database's README (kept here) asks: \"When using these images, please give credit to Olivetti "
              "Research Laboratory.\" No other licence is stated.",
        citation="F. Samaria and A. Harter, \"Parameterisation of a stochastic model for human face "
                 "identification\", 2nd IEEE Workshop on Applications of Computer Vision, Sarasota (Florida), "
                 "December 1994.",
        notes="400 images: 40 people (s1..s40) x 10 (1.pgm..10.pgm), 92x112, 8-bit grayscale PGM, taken between "
              "April 1992 and April 1994 at the Olivetti Research Laboratory, Cambridge, UK. The pinned archive is "
              "the Cambridge distribution (3,769,022 bytes); the GitHub copy at the commit above is the same file "
              "byte for byte."),
    Source(
        name="lfw", folder="lfw_gray", lay_out=lay_out_lfw, check=check_lfw,
        archives=(Archive("lfw-funneled.tgz", "b47c8422c8cded889dc5a13418c4bc2abbda121092b3533a83306f90d900100a",
                          ("https://ndownloader.figshare.com/files/5976015",)),),
        title="LFW (Labeled Faces in the Wild), funneled, 250x250 grayscale, with a private/public identity split",
        terms="No licence is stated; the photographs are news images whose copyright stays with their owners. "
              "LFW's authors ask that it be cited and used for research.",
        citation="Gary B. Huang, Manu Ramesh, Tamara Berg and Erik Learned-Miller, \"Labeled Faces in the Wild: A "
                 "Database for Studying Face Recognition in Unconstrained Environments\", University of "
                 "Massachusetts, Amherst, Technical Report 07-49, October 2007. http://vis-www.cs.umass.edu/lfw/ ; "
                 "funneling: Gary B. Huang, Vidit Jain and Erik Learned-Miller, \"Unsupervised joint alignment of "
                 "complex images\", ICCV 2007.",
        notes=f"The archive is LFW's funneled release as scikit-learn mirrors and pins it on figshare (the original "
              f"http://vis-www.cs.umass.edu/lfw/lfw-funneled.tgz). Every image was converted to 8-bit grayscale "
              f"(PIL mode L) and saved as JPEG at quality 75. `{LFW_PRIVATE}/<Name>/` holds everyone with >= "
              f"{LFW_MIN_IMAGES} images (scikit-learn's min_faces_per_person={LFW_MIN_IMAGES}: 62 people, 3,023 "
              f"images), labelled 0..61 in alphabetical order; `public_rest/` holds everyone else, flat. "
              f"`images.tsv`: path, identity, split, private_label (-1 for public); `identities.tsv`: identity, "
              f"n_images, split, private_label."),
    Source(
        name="mnist", folder="mnist", lay_out=lay_out_mnist, check=check_mnist,
        archives=tuple(Archive(name, digest, tuple(f"{mirror}/{name}" for mirror in (
            "https://storage.googleapis.com/cvdf-datasets/mnist", "https://ossci-datasets.s3.amazonaws.com/mnist")))
            for name, digest in zip(MNIST_FILES, (
                "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"), strict=True)),
        title="MNIST (the four original gzipped IDX files)",
        terms="No licence text ships with the data; the MNIST page is widely cited as offering it under "
              "CC BY-SA 3.0.",
        citation="Yann LeCun, Corinna Cortes and Christopher J.C. Burges, The MNIST database of handwritten "
                 "digits, http://yann.lecun.com/exdb/mnist/ ; Y. LeCun, L. Bottou, Y. Bengio and P. Haffner, "
                 "\"Gradient-based learning applied to document recognition\", Proc. IEEE 86(11), 1998.",
        notes="The digests are those TensorFlow Datasets pins for these files (url_checksums/mnist.txt); the "
              "second URL is torchvision's mirror of the same files."),
    Source(
        name="olivetti", folder="olivetti", lay_out=lay_out_olivetti, check=check_people,
        archives=(Archive("olivettifaces.mat", "b612fb967f2dc77c9c62d3e1266e0c73d5fca46a4b8906c18e454d41af987794",
                          ("https://ndownloader.figshare.com/files/5976027",)),),
        title="Olivetti faces: the ORL people at 64x64 (Sam Roweis' olivettifaces.mat)",
        terms="As ORL's: credit the Olivetti Research Laboratory (AT&T Laboratories Cambridge).",
        citation="F. Samaria and A. Harter, \"Parameterisation of a stochastic model for human face "
                 "identification\", 2nd IEEE Workshop on Applications of Computer Vision, December 1994.",
        notes="The archive is scikit-learn's figshare mirror of https://cs.nyu.edu/~roweis/data/olivettifaces.mat "
              "(fetch_olivetti_faces). Its 400 faces are scaled to 0..255 as scikit-learn scales them to [0, 1] "
              "and written as sN/M.pgm, 10 per person in the file's order."),
)}
