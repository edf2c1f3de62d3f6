import numpy as np
import pytest
from conftest import make_faces, write_idx
from PIL import Image

from core.config import DataConfig
from core.data import (
    DataError,
    load_dataset,
    load_identity_folders,
    load_lfw_private,
    load_lfw_public,
    load_mnist,
    load_orl,
    split_identities,
    split_per_identity,
)


def test_orl_on_shared_data(data_dir):
    faces = load_orl(data_dir)
    assert faces.images.shape == (400, 64, 64) and faces.images.dtype == np.uint8
    assert faces.num_classes == 40 and faces.names[:3] == ["s1", "s2", "s3"] and faces.names[-1] == "s40"
    assert np.bincount(faces.labels).tolist() == [10] * 40
    x, y = faces.tensors(np.arange(5))
    assert x.shape == (5, 1, 64, 64) and x.min() >= 0.0 and x.max() <= 1.0 and y.tolist() == [0] * 5


def test_lfw_private_and_public(lfw_dir):
    root = lfw_dir.parent
    private = load_lfw_private(root, size=32)
    assert private.images.shape == (3023, 32, 32) and private.num_classes == 62
    assert np.bincount(private.labels).max() == 530  # George W. Bush
    # Labels agree with the dataset's own index (private_label in identities.tsv).
    rows = [line.split("\t") for line in (lfw_dir / "identities.tsv").read_text().splitlines()[1:]]
    indexed = sorted((int(r[3]), r[0]) for r in rows if r[2] == "private")
    assert [name for _, name in indexed] == private.names
    public = load_lfw_public(root, size=32, limit=25)
    assert public.shape == (25, 32, 32)
    assert not set(private.names) & {p.stem.rsplit("_", 1)[0] for p in (lfw_dir / "public_rest").iterdir()}


def test_mnist(mnist_dir):
    digits = load_mnist(mnist_dir.parent, size=28, split="test", limit_per_class=5)
    assert digits.images.shape == (50, 28, 28) and np.bincount(digits.labels).tolist() == [5] * 10


def test_folder_loader_crops_to_square_and_resizes(tmp_path):
    faces = load_identity_folders(make_faces(tmp_path, size=(40, 50)), size=16)
    assert faces.images.shape == (12, 16, 16) and faces.names == ["person0", "person1", "person2"]


def test_dataset_config_for_a_folder_and_cap(tmp_path):
    make_faces(tmp_path / "mine", per_identity=6)
    data = load_dataset(DataConfig(dataset="folder", folder="mine", max_per_identity=4), tmp_path)
    assert np.bincount(data.labels).tolist() == [4, 4, 4]


def test_orl_layout_in_natural_order(tmp_path):
    for person in (1, 2, 10):
        folder = tmp_path / "att_faces" / f"s{person}"
        folder.mkdir(parents=True)
        for n in (1, 2):
            Image.fromarray(np.full((112, 92), person * 10 + n, dtype=np.uint8)).save(folder / f"{n}.pgm")
    faces = load_orl(tmp_path, size=8)
    assert faces.names == ["s1", "s2", "s10"] and faces.labels.tolist() == [0, 0, 1, 1, 2, 2]
    assert faces.images[4, 0, 0] == 101


def test_lfw_layout_uses_the_face_box(tmp_path):
    pixels = np.zeros((250, 250), dtype=np.uint8)
    pixels[62:188, 62:188] = 200  # only the face box is bright: a correct crop is bright everywhere
    for name in ("Ann_A", "Bob_B"):
        folder = tmp_path / "lfw_gray" / "private_min20" / name
        folder.mkdir(parents=True)
        Image.fromarray(pixels).save(folder / f"{name}_0001.jpg", quality=95)
    public = tmp_path / "lfw_gray" / "public_rest"
    public.mkdir()
    Image.fromarray(pixels).save(public / "Cy_C_0001.jpg", quality=95)
    private = load_lfw_private(tmp_path, size=16)
    assert private.names == ["Ann_A", "Bob_B"] and private.images.min() > 150
    assert load_lfw_public(tmp_path, size=16).shape == (1, 16, 16)


def test_mnist_layout_from_tiny_idx_files(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    digits = np.arange(20 * 28 * 28).reshape(20, 28, 28) % 256
    write_idx(folder / "train-images-idx3-ubyte.gz", digits)
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.arange(20) % 10)
    data = load_mnist(tmp_path, size=28, limit_per_class=1)
    assert data.images.shape == (10, 28, 28) and data.labels.tolist() == list(range(10))
    assert np.array_equal(data.images[3], digits[3])


def test_public_identities_never_reach_the_target():
    private, public = split_identities(40, 10, seed=0)
    assert len(private) == 30 and len(public) == 10 and not set(private) & set(public)
    assert np.array_equal(split_identities(40, 10, seed=0)[1], public)
    with pytest.raises(DataError, match="at least 2"):
        split_identities(5, 4, seed=0)


def test_prepared_data_holds_out_public_identities(data_dir):
    from core.data import PreparedData

    data = PreparedData.load(DataConfig(public_identities=10), data_dir)
    assert data.images.num_classes == 30 and data.public_images.shape == (100, 64, 64)
    assert len(data.train_index) == 210 and data.summary()["public_images"] == 100
    everyone = load_orl(data_dir)
    public_names = set(everyone.names) - set(data.images.names)
    assert len(public_names) == 10


def test_split_is_per_identity_seeded_and_disjoint():
    labels = np.repeat(np.arange(40), 10)
    train, test = split_per_identity(labels, 0.7, seed=0)
    assert len(train) == 280 and len(test) == 120 and not set(train) & set(test)
    assert np.bincount(labels[train]).tolist() == [7] * 40
    again, _ = split_per_identity(labels, 0.7, seed=0)
    other, _ = split_per_identity(labels, 0.7, seed=1)
    assert np.array_equal(train, again) and not np.array_equal(train, other)


def test_missing_data_names_the_path_and_how_to_get_it(tmp_path):
    with pytest.raises(DataError) as error:
        load_orl(tmp_path)
    message = str(error.value)
    assert str((tmp_path / "att_faces").resolve()) in message and "--data" in message and "MIDLAB_DATA" in message


def test_corrupt_image_names_the_file(tmp_path):
    root = make_faces(tmp_path)
    broken = root / "person1" / "9.pgm"
    broken.write_bytes(b"P5 92 112 255\n" + b"\x00" * 100)  # truncated: the header promises 10,304 pixels
    with pytest.raises(DataError, match=r"9\.pgm"):
        load_identity_folders(root, 16)


def test_a_single_identity_is_refused(tmp_path):
    with pytest.raises(DataError, match="at least 2"):
        load_identity_folders(make_faces(tmp_path, identities=1), 16)


def test_truncated_idx_is_refused(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    (folder / "t10k-images-idx3-ubyte").write_bytes(bytes([0, 0, 8, 3]) + (10).to_bytes(4, "big")
                                                     + (28).to_bytes(4, "big") * 2 + b"\x00" * 100)
    (folder / "t10k-labels-idx1-ubyte").write_bytes(bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big") + b"\x00" * 10)
    with pytest.raises(DataError, match="truncated"):
        load_mnist(tmp_path, split="test")
