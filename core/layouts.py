"""How each fetched dataset is laid out from its archives, and how a laid-out dataset is checked (core/fetch.py
downloads the archives; core/data.py reads the result).

Archive members are read one by one and only regular files whose names fit the layout are written, under names
built here: no member can place a file outside the dataset's folder or create a link.
"""

from __future__ import annotations

import csv
import io
import os
import re
import stat
import tarfile
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from core.data import mnist_paths, read_idx_header
from core.errors import DataError
from core.files import open_regular, read_regular

LFW_MIN_IMAGES = 20  # the private split: everyone with >= 20 images (scikit-learn's min_faces_per_person=20)
LFW_PRIVATE = f"private_min{LFW_MIN_IMAGES}"
LFW_MEMBER = re.compile(r"(?:.*/)?([A-Za-z0-9][\w.'-]*)/(\1_\d{4}\.jpg)")
PEOPLE_MEMBER = re.compile(r"(?:.*/)?(s(?:[1-9]|[1-3]\d|40))/((?:[1-9]|10)\.pgm)")
README_MEMBER = re.compile(r"(?:.*/)?README")


def _regular_zip_members(path: Path) -> Iterable[tuple[str, Callable[[], bytes]]]:
    with open_regular(path) as file, zipfile.ZipFile(file) as archive:
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


def lfw_split(members: Iterable[str]) -> dict[str, LfwImage]:
    """LFW's <Name>/<Name>_NNNN.jpg members (under any leading folder) to their places: everyone with at least
    20 images in private_min20/<Name>/, labelled in alphabetical order; the rest flat in public_rest/. Other
    members (LFW's own readmes) are left out."""
    files: dict[str, list[tuple[str, str]]] = {}
    for member in members:
        if match := LFW_MEMBER.fullmatch(member):
            files.setdefault(match[1], []).append((member, match[2]))
    labels = {name: label for label, name in enumerate(sorted(n for n, f in files.items() if len(f) >= LFW_MIN_IMAGES))}
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
    with open_regular(archives[0]) as file, tarfile.open(fileobj=file, mode="r:gz") as archive:
        members = [member for member in archive.getmembers() if member.isfile()]  # no links, devices or folders
        build_lfw_gray(((m.name, lambda m=m: archive.extractfile(m).read()) for m in members), folder)


def check_lfw(folder: Path) -> str:
    """images.tsv and identities.tsv present, and every image they list on disk."""
    try:
        text = read_regular(folder / "images.tsv").decode()
        rows = list(csv.DictReader(io.StringIO(text, newline=""), delimiter="\t"))
        identities = read_regular(folder / "identities.tsv").decode().count("\n") - 1
        missing = [row["path"] for row in rows if not (folder / row["path"]).is_file()]
    except (OSError, UnicodeDecodeError, csv.Error, KeyError, TypeError) as error:  # Key, Type: rows without a path
        raise DataError(f"its tables are unreadable ({type(error).__name__}: {error})") from None
    if not rows:
        raise DataError("images.tsv lists no images")
    if missing:
        raise DataError(f"{len(missing)} of the {len(rows)} images images.tsv lists are missing, e.g. {missing[0]}")
    private = [row for row in rows if row["split"] == "private"]
    people = len({row["identity"] for row in private})
    return (f"{len(rows)} images of {identities} people; {LFW_PRIVATE}: {len(private)} images of {people} people; "
            f"public_rest: {len(rows) - len(private)} images")
