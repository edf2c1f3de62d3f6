"""Face (and digit) datasets read in place, preprocessed to square grayscale in [0, 1], split per identity.

Layouts under the data root (set by --data or $MIDLAB_DATA):
  att_faces/sN/M.pgm             AT&T/ORL, 40 people x 10 images, 92x112
  olivetti/sN/M.pgm              the same people at 64x64
  lfw_gray/private_min20/<Name>/ LFW people with >= 20 images (labelled, private)
  lfw_gray/public_rest/*.jpg     other LFW people (the attacker's public faces)
  mnist/*-ubyte.gz               the four MNIST IDX files
and any folder of <identity>/<image> files for your own faces. `python -m core fetch NAME` (core/fetch.py)
downloads each named dataset into this layout. This module does not import torch at load
time, so the dashboard can show faces before torch is needed.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import os
import re
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from core.attack_config import LFW_CROP
from core.config import DataConfig
from core.errors import DataError
from core.files import open_regular, read_regular
from core.paths import data_root

if TYPE_CHECKING:
    import torch

IMAGE_SUFFIXES = {".pgm", ".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
FOLDERS = {"orl": "att_faces", "olivetti": "olivetti", "lfw": "lfw_gray", "mnist": "mnist"}
WHAT_IT_IS = {
    "orl": "The AT&T/ORL faces are the folder att_faces/ with s1..s40.",
    "olivetti": "The ORL people at 64x64 are the folder olivetti/ with s1..s40.",
    "lfw": "LFW in grayscale is the folder lfw_gray/ with private_min20/, public_rest/ and images.tsv.",
    "mnist": "MNIST is the folder mnist/ with the four standard *-ubyte.gz IDX files.",
}


def fetch_command(kind: str, root: Path) -> str:
    """The command that downloads a dataset into `root` (--data only when root is not the default folder)."""
    data = "" if root.resolve() == data_root().resolve() else f" --data {shlex.quote(str(root))}"
    return f"`python -m core fetch {kind}{data}`"


def how_to_get(kind: str, path: Path) -> str:
    """What the dataset is and the command that downloads it, for a message about `path` (a path in it)."""
    if kind not in FOLDERS:
        return "Give a folder with one sub-folder of images per identity."
    root = next((p.parent for p in (path, *path.parents) if p.name == FOLDERS[kind]), path.parent)
    return f"{WHAT_IT_IS[kind]} Download it with {fetch_command(kind, root)} (needs internet)."


def _replace_mnist(path: Path) -> str:
    root = path.parent.parent
    return (f"Replace it with the original file: move {path.parent} aside and run {fetch_command('mnist', root)}, "
            "or copy in the four standard *-ubyte.gz IDX files.")


def lfw_box(side: int) -> tuple[int, int, int, int]:
    """A square of `side` pixels around the centre of LFW's funnelled 250x250 images (the face's centre)."""
    low = 125 - side // 2
    return low, low, low + side, low + side


# LFW's private faces: a 126-pixel square around the face (PROVENANCE.md of lfw_gray), (62, 62, 188, 188).
LFW_FACE_BOX = lfw_box(LFW_CROP)



@dataclass
class ImageSet:
    """Preprocessed images as uint8 (N, H, W), integer labels, and the identity name of each label."""

    images: np.ndarray
    labels: np.ndarray
    names: list[str]
    source: str

    @property
    def num_classes(self) -> int:
        return len(self.names)

    def select_identities(self, labels: np.ndarray) -> ImageSet:
        """The images of some identities, relabelled 0..len(labels)-1 in the given order."""
        relabel = np.full(self.num_classes, -1, dtype=np.int64)
        relabel[labels] = np.arange(len(labels))
        keep = relabel[self.labels] >= 0
        return ImageSet(self.images[keep], relabel[self.labels[keep]], [self.names[i] for i in labels], self.source)

    def tensors(self, index: np.ndarray | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Float images (N, 1, H, W) in [0, 1] and int64 labels, optionally for a subset."""
        import torch  # here, not at the top: the dashboard reads faces without paying torch's import

        images = self.images if index is None else self.images[index]
        labels = self.labels if index is None else self.labels[index]
        x = torch.from_numpy(np.ascontiguousarray(images)).float().div_(255.0).unsqueeze(1)
        return x, torch.from_numpy(np.asarray(labels, dtype=np.int64))


def _missing(kind: str, path: Path) -> DataError:
    return DataError(
        f"{kind} data not found at {path.resolve()}. Point MID Lab at the folder that holds it with "
        f"--data DIR or MIDLAB_DATA=DIR. {how_to_get(kind, path)}"
    )


def _square_crop(image: Image.Image) -> Image.Image:
    """Center crop to a square, keeping the aspect ratio (ORL's 92x112 becomes 92x92)."""
    w, h = image.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    return image.crop((left, top, left + side, top + side))


def _grayscale(image: Image.Image) -> Image.Image:
    """8-bit grayscale. 16-bit images (PNG, TIFF, PGM with maxval > 255, read as modes I;16 and I) are scaled
    down: Pillow's own conversion clips them, which turns a 16-bit face almost white."""
    if image.mode == "I" or image.mode.startswith("I;16"):
        pixels = np.asarray(image, dtype=np.float64) / 257.0
        return Image.fromarray(np.clip(pixels + 0.5, 0, 255).astype(np.uint8))
    return image.convert("L")


def read_face(path: Path, size: int, box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """One image file to a size x size uint8 grayscale array; a broken or absurdly large file (a header that
    promises billions of pixels) raises DataError naming it."""
    try:
        with open_regular(path) as file, Image.open(file) as opened:
            image = _grayscale(opened)
            image.load()
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise DataError(f"cannot read image {path}: {str(error).rstrip('.')}. Remove or replace the file.") from error
    image = image.crop(box) if box and image.size == (250, 250) else _square_crop(image)
    return np.asarray(image.resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8)


def _image_files(folder: Path) -> list[Path]:
    """The images of a folder; hidden files are skipped like hidden folders (macOS copies leave `._1.jpg`
    metadata files beside each image)."""
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES)


def _natural_key(name: str) -> tuple[tuple[object, ...], str]:
    """s2 before s10. Runs of ASCII digits count as numbers; everything else (letters and digits of any script,
    such as '²' or '٣', which str.isdigit accepts but int() may not) is compared as text, and the whole name last,
    so any two distinct names have one order."""
    parts = re.split(r"([0-9]+)", name)
    return tuple((1, int(part)) if index % 2 else (0, part) for index, part in enumerate(parts)), name


def identity_name(folder: Path) -> str:
    """A folder's name as text: bytes that are not UTF-8 (a name from another system's encoding) are written as
    \\xNN escapes, so every name can be shown, stored in JSON and sent to a browser."""
    return os.fsencode(folder.name).decode("utf-8", "backslashreplace")


def load_identity_folders(root: Path, size: int, kind: str = "folder", box: tuple | None = None) -> ImageSet:
    """One sub-folder of images per identity, labels in natural order of the folder names (s1, s2, ..., s10)."""
    if not root.is_dir():
        raise _missing(kind, root)
    folders = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                     key=lambda p: _natural_key(p.name))
    images, labels, names = [], [], []
    for folder in folders:
        files = _image_files(folder)
        if not files:
            continue
        for file in files:
            images.append(read_face(file, size, box))
            labels.append(len(names))
        names.append(identity_name(folder))
    if len(names) < 2:
        raise DataError(
            f"{root.resolve()} has {len(names)} identity folder(s) with images; a classifier needs at least 2. "
            f"{how_to_get(kind, root)}"
        )
    return ImageSet(np.stack(images), np.asarray(labels, dtype=np.int64), names, str(root))


def load_orl(root: Path, size: int = 64) -> ImageSet:
    return load_identity_folders(root / "att_faces", size, kind="orl")


def load_olivetti(root: Path, size: int = 64) -> ImageSet:
    return load_identity_folders(root / "olivetti", size, kind="olivetti")


def load_lfw_private(root: Path, size: int = 64) -> ImageSet:
    """LFW's 62 people with >= 20 images; labels follow the alphabetical order of images.tsv."""
    return load_identity_folders(root / "lfw_gray" / "private_min20", size, kind="lfw", box=LFW_FACE_BOX)


def lfw_public_folder(root: Path) -> Path:
    return root / "lfw_gray" / "public_rest"


def public_fingerprint(root: Path) -> str | None:
    """The digest of LFW's public faces as files (each name and the SHA-256 of its bytes), what a GAN prior,
    an inversion decoder or MI-Face's mean start learns from; None when the folder is absent. Files, not
    decoded pixels: a stored prior is checked without decoding 10,210 JPEGs."""
    folder = lfw_public_folder(root)
    if not folder.is_dir():
        return None
    digest = hashlib.sha256()
    for path in _image_files(folder):
        try:
            content = read_regular(path)
        except OSError as error:
            raise DataError(f"cannot read image {path}: {error}. Remove or replace the file.") from error
        digest.update(path.name.encode() + b"\0" + hashlib.sha256(content).digest())
    return digest.hexdigest()


def load_lfw_public(root: Path, size: int = 64, limit: int = 0, seed: int = 0,
                    box: tuple[int, int, int, int] = LFW_FACE_BOX) -> np.ndarray:
    """The attacker's public faces (no identity shared with the private set), optionally a seeded subset."""
    folder = lfw_public_folder(root)
    if not folder.is_dir():
        raise _missing("lfw", folder)
    files = _image_files(folder)
    if not files:
        raise DataError(f"{folder.resolve()} holds no images. {how_to_get('lfw', folder)}")
    if limit and limit < len(files):
        order = np.random.default_rng(seed).permutation(len(files))[:limit]
        files = [files[i] for i in sorted(order)]
    return np.stack([read_face(f, size, box) for f in files])


def _idx_dims(path: Path, f: Any) -> tuple[int, ...]:
    """An IDX header (MNIST's format): magic 0x000008NN, then NN big-endian dimensions."""
    magic = f.read(4)
    if len(magic) < 4 or magic[:3] != b"\x00\x00\x08":
        raise DataError(f"{path} is not an unsigned-byte IDX file. {_replace_mnist(path)}")
    raw = f.read(4 * magic[3])
    return tuple(int.from_bytes(raw[4 * i: 4 * i + 4], "big") for i in range(magic[3]))


@contextmanager
def _open_idx(path: Path) -> Iterator[Any]:
    with open_regular(path) as file:
        yield gzip.GzipFile(fileobj=file, mode="rb") if path.suffix == ".gz" else file


def read_idx_header(path: Path) -> tuple[int, ...]:
    """The dimensions of an IDX file, gzipped or not, without reading its data."""
    try:
        with _open_idx(path) as f:
            return _idx_dims(path, f)
    except (OSError, EOFError) as error:
        raise DataError(f"cannot read {path}: {error}. {_replace_mnist(path)}") from error


def _read_idx(path: Path) -> np.ndarray:
    try:
        with _open_idx(path) as f:
            dims = _idx_dims(path, f)
            raw = f.read()
    except (OSError, EOFError) as error:
        raise DataError(f"cannot read {path}: {error}. {_replace_mnist(path)}") from error
    data = np.frombuffer(raw, dtype=np.uint8)
    if data.size != int(np.prod(dims)):
        raise DataError(f"{path} is truncated: expected {int(np.prod(dims))} values, found {data.size}. "
                        f"{_replace_mnist(path)}")
    return data.reshape(dims)


def mnist_paths(folder: Path, split: str = "train") -> list[Path]:
    """The images and labels IDX files of MNIST's train or t10k split in `folder`, plain or gzipped."""
    paths = [folder / f"{split}-{part}-idx{n}-ubyte" for part, n in (("images", 3), ("labels", 1))]
    paths = [p if p.exists() else p.with_name(p.name + ".gz") for p in paths]
    for path in paths:
        if not path.exists():
            raise _missing("mnist", path)
    return paths


def load_mnist(root: Path, size: int = 64, split: str = "train", limit_per_class: int = 0) -> ImageSet:
    """MNIST digits as ten identities, resized to size x size."""
    folder = root / "mnist"
    paths = mnist_paths(folder, "train" if split == "train" else "t10k")
    digits, labels = _read_idx(paths[0]), _read_idx(paths[1]).astype(np.int64)
    if len(digits) != len(labels):
        raise DataError(f"{folder}: {len(digits)} images but {len(labels)} labels. {_replace_mnist(paths[1])}")
    keep = np.arange(len(labels))
    if limit_per_class:
        keep = np.concatenate([np.flatnonzero(labels == c)[:limit_per_class] for c in range(10)])
        keep.sort()
    resized = np.stack([
        np.asarray(Image.fromarray(digits[i]).resize((size, size), Image.Resampling.BILINEAR)) for i in keep
    ])
    return ImageSet(resized, labels[keep], [str(d) for d in range(10)], str(folder))


def cap_per_identity(data: ImageSet, cap: int, seed: int) -> ImageSet:
    """Keep at most `cap` images of each identity (a seeded choice), to tame class imbalance."""
    rng = np.random.default_rng(seed)
    keep = []
    for label in range(data.num_classes):
        index = np.flatnonzero(data.labels == label)
        keep.append(np.sort(rng.permutation(index)[:cap]) if len(index) > cap else index)
    index = np.sort(np.concatenate(keep))
    return ImageSet(data.images[index], data.labels[index], data.names, data.source)


def load_dataset(config: DataConfig, root: Path) -> ImageSet:
    """The private, labelled set a DataConfig names."""
    size = config.image_size
    if config.dataset == "orl":
        data = load_orl(root, size)
    elif config.dataset == "olivetti":
        data = load_olivetti(root, size)
    elif config.dataset == "lfw":
        data = load_lfw_private(root, size)
    elif config.dataset == "mnist":
        data = load_mnist(root, size, limit_per_class=config.max_per_identity or 1000)
    else:
        folder = Path(config.folder).expanduser()
        data = load_identity_folders(folder if folder.is_absolute() else root / folder, size)
    if config.identities:
        data = first_identities(data, config.identities, config.split_seed)
    if config.max_per_identity:
        data = cap_per_identity(data, config.max_per_identity, config.split_seed)
    return data


def first_identities(data: ImageSet, count: int, seed: int) -> ImageSet:
    """The first `count` identities of a seeded order, relabelled in their original order: a study of the
    number of identities sees nested sets (the 10 people of a 10-identity run are among the 20 of a 20 one)."""
    if count > data.num_classes:
        raise DataError(f"{data.source} has {data.num_classes} identities; cannot keep {count}. Lower identities.")
    chosen = np.sort(np.random.default_rng(seed).permutation(data.num_classes)[:count])
    return data.select_identities(chosen)


def split_per_identity(labels: np.ndarray, train_fraction: float, seed: int,
                       names: list[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Seeded train/test indices with the same fraction of every identity on each side."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for label in np.unique(labels):
        index = rng.permutation(np.flatnonzero(labels == label))
        if len(index) < 2:
            name = names[label] if names else str(label)
            raise DataError(f"identity {name} has {len(index)} image(s); a train/test split needs at least 2 per "
                            "identity. Add images of this person or remove their folder.")
        n_train = min(max(1, round(len(index) * train_fraction)), len(index) - 1)
        train.append(index[:n_train])
        test.append(index[n_train:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def split_identities(num_identities: int, public: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded private/public split of identities: the public ones never reach the target."""
    if not 0 <= public <= num_identities - 2:
        raise DataError(f"cannot hold out {public} of {num_identities} identities: the target needs at least 2; "
                        "lower --public-identities")
    order = np.random.default_rng(seed).permutation(num_identities)
    return np.sort(order[public:]), np.sort(order[:public])


@dataclass
class PreparedData:
    """A private dataset loaded once, with its seeded per-identity train/test split, and the images of the
    identities held out as the attacker's public set (None when none are)."""

    config: DataConfig
    images: ImageSet
    train_index: np.ndarray
    test_index: np.ndarray
    public_images: np.ndarray | None = None

    @classmethod
    def load(cls, config: DataConfig, root: Path) -> PreparedData:
        images = load_dataset(config, root)
        public = None
        if config.public_identities:
            private_ids, public_ids = split_identities(images.num_classes, config.public_identities, config.split_seed)
            public = images.select_identities(public_ids).images
            images = images.select_identities(private_ids)
        train, test = split_per_identity(images.labels, config.train_fraction, config.split_seed, images.names)
        return cls(config, images, train, test, public)

    @functools.cached_property
    def fingerprint(self) -> str:
        """The digest of exactly what models learn from and are scored on: the prepared pixels, labels and
        names, the split, and the held-out public identities' pixels. Replacing, adding or removing a photo
        changes it (tens of milliseconds for LFW; the arrays are in memory)."""
        digest = hashlib.sha256(json.dumps(self.images.names).encode())
        arrays = [self.images.images, self.images.labels, self.train_index, self.test_index]
        for array in [*arrays, *([] if self.public_images is None else [self.public_images])]:
            digest.update(f"{array.dtype}{array.shape}".encode())
            digest.update(np.ascontiguousarray(array).data)
        return digest.hexdigest()

    def train(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images.tensors(self.train_index)

    def test(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images.tensors(self.test_index)

    def summary(self) -> dict[str, Any]:
        return {"dataset": self.config.dataset, "source": self.images.source, "identities": self.images.num_classes,
                "train_images": len(self.train_index), "test_images": len(self.test_index),
                "public_images": 0 if self.public_images is None else len(self.public_images)}
