"""`python -m core fetch orl|lfw|mnist|olivetti|all`: download each dataset from its public source, verify the
pinned SHA-256 of every archive, and lay it out exactly as core/data.py reads it, with a PROVENANCE.md beside it.

Downloads resume over HTTP Range from <data>/.downloads/<file>.part. A dataset is assembled in a hidden folder
beside its place and renamed into it in one step, so an interrupted fetch never leaves half a dataset where the
loaders look. Archives are read member by member and only regular files whose names match the dataset's layout are
written, under names built here: no member can place a file outside the dataset or create a link.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import http.client
import io
import os
import re
import shutil
import stat
import sys
import tarfile
import tempfile
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import numpy as np
from PIL import Image

from core.data import DataError, fetch_command, mnist_paths, read_idx_header
from core.runtime import ProgressLine

ATTEMPTS_PER_URL = 3  # a dropped connection resumes from the bytes already on disk
CHUNK = 1 << 16
LFW_MIN_IMAGES = 20  # the private split: everyone with >= 20 images (scikit-learn's min_faces_per_person=20)
LFW_PRIVATE = f"private_min{LFW_MIN_IMAGES}"
LFW_MEMBER = re.compile(r"(?:.*/)?([A-Za-z0-9][\w.'-]*)/(\1_\d{4}\.jpg)")
PEOPLE_MEMBER = re.compile(r"(?:.*/)?(s(?:[1-9]|[1-3]\d|40))/((?:[1-9]|10)\.pgm)")
README_MEMBER = re.compile(r"(?:.*/)?README")
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
    with path.open("rb") as f:
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
        resumed = offset and getattr(response, "status", None) == 206 and \
            response.headers.get("Content-Range", "").startswith(f"bytes {offset}-")
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
    return (f"# {source.title}\n\nWritten by `python -m core fetch {source.name}` from the archives below; every "
            f"archive was verified against its pinned SHA-256 before it was unpacked.\n\n## Source\n\n{archives}\n\n"
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


def _regular_zip_members(path: Path) -> Iterable[tuple[str, Callable[[], bytes]]]:
    with zipfile.ZipFile(path) as archive:
        for member in archive.infolist():
            if not member.is_dir() and not stat.S_ISLNK(member.external_attr >> 16):
                yield member.filename, lambda member=member: archive.read(member)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def lay_out_orl(archives: Sequence[Path], folder: Path) -> None:
    """att_faces.zip's sN/M.pgm (under any leading folder) and its README, as att_faces/sN/M.pgm."""
    for name, read in _regular_zip_members(archives[0]):
        if match := PEOPLE_MEMBER.fullmatch(name):
            _write(folder / match[1] / match[2], read())
        elif README_MEMBER.fullmatch(name):
            _write(folder / "README", read())


def check_people(folder: Path) -> str:
    """ORL's layout (also Olivetti's): s1..s40, each with 1.pgm..10.pgm."""
    missing = [f"s{s}/{m}.pgm" for s in range(1, 41) for m in range(1, 11) if not (folder / f"s{s}/{m}.pgm").is_file()]
    if missing:
        raise DataError(f"{len(missing)} of its 400 images are missing, e.g. {missing[0]}")
    return "400 images of 40 people"


def lay_out_olivetti(archives: Sequence[Path], folder: Path) -> None:
    """Roweis' olivettifaces.mat (400 faces of 64x64, 10 per person in order) as olivetti/sN/M.pgm, scaled to
    0..255 as scikit-learn's fetch_olivetti_faces scales it to [0, 1]."""
    from scipy.io import loadmat  # scipy comes with opacus; only this dataset needs it

    faces = np.float32(loadmat(str(archives[0]))["faces"].T).reshape(400, 64, 64).transpose(0, 2, 1)
    faces = (faces - faces.min()) / (faces.max() - faces.min())
    for index, face in enumerate(faces):
        path = folder / f"s{index // 10 + 1}" / f"{index % 10 + 1}.pgm"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.uint8(np.clip(face * 255 + 0.5, 0, 255))).save(path)


def lay_out_mnist(archives: Sequence[Path], folder: Path) -> None:
    """The four IDX files stay gzipped, as the loader reads them."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in archives:
        os.replace(path, folder / path.name)


def check_mnist(folder: Path) -> str:
    counts = []
    for split in ("train", "t10k"):
        images, labels = (read_idx_header(path)[0] for path in mnist_paths(folder, split))
        if images != labels:
            raise DataError(f"{split}: {images} images but {labels} labels")
        counts.append(images)
    return f"{counts[0]} training and {counts[1]} test digits"


@dataclass(frozen=True)
class LfwImage:
    """Where one LFW image goes under lfw_gray/, and its row of images.tsv."""

    path: str
    identity: str
    split: str  # private | public
    label: int  # 0..61 in alphabetical order of the private names; -1 for public


def lfw_split(members: Iterable[str], min_images: int = LFW_MIN_IMAGES) -> dict[str, LfwImage]:
    """LFW's <Name>/<Name>_NNNN.jpg members (under any leading folder) to their places: everyone with at least
    `min_images` images in private_min20/<Name>/, labelled in alphabetical order; the rest flat in public_rest/.
    Other members (LFW's own readmes) are left out."""
    files: dict[str, list[tuple[str, str]]] = {}
    for member in members:
        if match := LFW_MEMBER.fullmatch(member):
            files.setdefault(match[1], []).append((member, match[2]))
    labels = {name: label for label, name in enumerate(sorted(n for n, f in files.items() if len(f) >= min_images))}
    return {member: (LfwImage(f"{LFW_PRIVATE}/{name}/{file}", name, "private", labels[name]) if name in labels
                     else LfwImage(f"public_rest/{file}", name, "public", -1))
            for name, pairs in files.items() for member, file in pairs}


def lfw_tables(images: Iterable[LfwImage]) -> tuple[str, str]:
    """images.tsv (one row per image, by identity then path) and identities.tsv (one row per identity)."""
    rows = sorted(images, key=lambda image: (image.identity, image.path))
    counts, first = Counter(row.identity for row in rows), {row.identity: row for row in reversed(rows)}
    images_tsv = "path\tidentity\tsplit\tprivate_label\n" + "".join(
        f"{row.path}\t{row.identity}\t{row.split}\t{row.label}\n" for row in rows)
    identities_tsv = "identity\tn_images\tsplit\tprivate_label\n" + "".join(
        f"{name}\t{counts[name]}\t{first[name].split}\t{first[name].label}\n" for name in sorted(counts))
    return images_tsv, identities_tsv


def gray_jpeg(data: bytes) -> bytes:
    """A JPEG in 8-bit grayscale (mode L): one already so is kept byte for byte, any other image is converted
    and saved at quality 75, the standard IJG tables of the project's own lfw_gray copy."""
    with Image.open(io.BytesIO(data)) as image:
        if image.format == "JPEG" and image.mode == "L":
            return data
        out = io.BytesIO()
        image.convert("L").save(out, "JPEG", quality=75)
        return out.getvalue()


def build_lfw_gray(members: Iterable[tuple[str, Callable[[], bytes]]], folder: Path) -> None:
    """Write lfw_gray/ (the private and public splits, images.tsv, identities.tsv) from LFW's members, given as
    (name, read) pairs in archive order, so that a compressed tar is read once, front to back."""
    members = list(members)
    placed = lfw_split(name for name, _ in members)
    for name, read in members:
        if name in placed:
            _write(folder / placed[name].path, gray_jpeg(read()))
    images_tsv, identities_tsv = lfw_tables(placed.values())
    (folder / "images.tsv").write_text(images_tsv)
    (folder / "identities.tsv").write_text(identities_tsv)


def lay_out_lfw(archives: Sequence[Path], folder: Path) -> None:
    with tarfile.open(archives[0], "r:gz") as archive:
        members = [member for member in archive.getmembers() if member.isfile()]  # no links, devices or folders
        build_lfw_gray(((m.name, lambda m=m: archive.extractfile(m).read()) for m in members), folder)


def check_lfw(folder: Path) -> str:
    """images.tsv and identities.tsv present, and every image they list on disk."""
    try:
        with (folder / "images.tsv").open(newline="") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
        identities = (folder / "identities.tsv").read_text().count("\n") - 1
    except (OSError, csv.Error) as error:
        raise DataError(f"its tables are unreadable: {error}") from None
    missing = [row["path"] for row in rows if not (folder / row["path"]).is_file()]
    if missing or not rows:
        raise DataError(f"{len(missing)} of the {len(rows)} images images.tsv lists are missing" +
                        (f", e.g. {missing[0]}" if missing else ""))
    private = [row for row in rows if row["split"] == "private"]
    people = len({row["identity"] for row in private})
    return (f"{len(rows)} images of {identities} people; {LFW_PRIVATE}: {len(private)} images of {people} people; "
            f"public_rest: {len(rows) - len(private)} images")


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
