"""`python -m core fetch`: small archives made here, served from a local HTTP server (with Range support, and a
mode that drops the connection half way), with their own checksums; no internet. The LFW split builder is also
run on the project's real lfw_gray images, as if they were the archive's contents."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import re
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli, write_idx
from PIL import Image

from core.data import DataError, load_lfw_private, load_lfw_public, load_mnist, load_olivetti, load_orl
from core.fetch import SOURCES, Archive, download, fetch
from core.layouts import build_lfw_gray, lfw_split


class Server:
    """Serves `files` (name -> bytes) on 127.0.0.1 with HTTP Range support; names in `drop_once` are cut off
    half way the first time they are asked for; `ranges` False ignores Range headers (answers 200), "wrong"
    answers every range from byte 0."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.drop_once: set[str] = set()
        self.ranges: bool | str = True
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                name = self.path.lstrip("/")
                server.requests.append((name, self.headers.get("Range")))
                if name not in server.files:
                    self.send_error(404)
                    return
                data, start = server.files[name], 0
                if server.ranges and (header := self.headers.get("Range")):
                    start = 0 if server.ranges == "wrong" else int(header.removeprefix("bytes=").rstrip("-"))
                    if start >= len(data):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                body = data[start:]
                if name in server.drop_once:
                    server.drop_once.discard(name)
                    body = body[: len(body) // 2]  # then the connection closes before Content-Length
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}/{name}"

    def source(self, name: str, files: dict[str, bytes], digests: dict[str, str] | None = None):
        """SOURCES[name] with its archives served here, each pinned to its own SHA-256 unless `digests` says."""
        self.files.update(files)
        archives = tuple(Archive(file, (digests or {}).get(file, hashlib.sha256(data).hexdigest()), (self.url(file),))
                         for file, data in files.items())
        return dataclasses.replace(SOURCES[name], archives=archives)


@pytest.fixture
def server():
    serving = Server()
    yield serving
    serving.httpd.shutdown()
    serving.httpd.server_close()


def pgm(seed: int, width: int = 8, height: int = 10) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, width * height, dtype=np.uint8)
    return f"P5 {width} {height} 255\n".encode() + pixels.tobytes()


def jpeg(seed: int, mode: str = "RGB", side: int = 24) -> bytes:
    shape = (side, side, 3) if mode == "RGB" else (side, side)
    out = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)).save(out, "JPEG")
    return out.getvalue()


def orl_zip() -> bytes:
    """att_faces.zip's layout (s1..s40 of 10 PGMs and a README), plus members that must never be written: one
    that climbs out of the target and a symbolic link."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("README", "The ORL face database")
        for person in range(1, 41):
            for image in range(1, 11):
                archive.writestr(f"s{person}/{image}.pgm", pgm(person * 100 + image))
        archive.writestr("../../escaped.txt", "outside")
        link = zipfile.ZipInfo("s1/link.pgm")
        link.external_attr = (0o120777 << 16)
        archive.writestr(link, "/etc/passwd")
    return out.getvalue()


LFW_PEOPLE = {"Ann_Able": 21, "Bob_Baker": 20, "Cy_Cole": 19, "Di_Dunn": 1}  # two reach the >= 20 split


def lfw_tgz() -> bytes:
    """lfw-funneled.tgz's layout (lfw_funneled/<Name>/<Name>_NNNN.jpg, colour JPEGs), a readme and a link."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))

        add("lfw_funneled/README.txt", b"funneled")
        for seed, (name, count) in enumerate(LFW_PEOPLE.items()):
            for index in range(1, count + 1):
                add(f"lfw_funneled/{name}/{name}_{index:04d}.jpg", jpeg(seed * 100 + index))
        link = tarfile.TarInfo("lfw_funneled/Di_Dunn/Di_Dunn_0002.jpg")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        archive.addfile(link)
    return out.getvalue()


def mnist_gz(tmp_path: Path) -> dict[str, bytes]:
    files = {}
    for split, count in (("train", 30), ("t10k", 20)):
        labels = np.arange(count) % 10
        write_idx(tmp_path / f"{split}-images-idx3-ubyte.gz", np.full((count, 28, 28), 7) * labels[:, None, None])
        write_idx(tmp_path / f"{split}-labels-idx1-ubyte.gz", labels)
        for part in ("images-idx3", "labels-idx1"):
            files[f"{split}-{part}-ubyte.gz"] = (tmp_path / f"{split}-{part}-ubyte.gz").read_bytes()
    return files


def olivetti_mat(tmp_path: Path) -> dict[str, bytes]:
    from scipy.io import savemat

    faces = np.random.default_rng(0).integers(0, 256, (4096, 400)).astype(np.uint8)
    savemat(tmp_path / "olivettifaces.mat", {"faces": faces})
    return {"olivettifaces.mat": (tmp_path / "olivettifaces.mat").read_bytes()}


def archives_for(name: str, tmp_path: Path) -> dict[str, bytes]:
    made = tmp_path / "made"
    made.mkdir()
    return {"orl": lambda: {"att_faces.zip": orl_zip()}, "lfw": lambda: {"lfw-funneled.tgz": lfw_tgz()},
            "mnist": lambda: mnist_gz(made), "olivetti": lambda: olivetti_mat(made)}[name]()


def loaded_counts(name: str, root: Path) -> tuple:
    """What the project's own loaders read from a fetched dataset."""
    if name == "orl":
        data = load_orl(root, 16)
        return data.images.shape, data.num_classes
    if name == "olivetti":
        data = load_olivetti(root, 16)
        return data.images.shape, data.num_classes
    if name == "lfw":
        private = load_lfw_private(root, 16)
        return private.images.shape, private.names, load_lfw_public(root, 16).shape
    data = load_mnist(root, 16)
    return data.images.shape, sorted(set(data.labels.tolist()))


EXPECTED = {
    "orl": ((400, 16, 16), 40),
    "olivetti": ((400, 16, 16), 40),
    "lfw": ((41, 16, 16), ["Ann_Able", "Bob_Baker"], (20, 16, 16)),
    "mnist": ((30, 16, 16), list(range(10))),
}


@pytest.mark.parametrize("name", ["orl", "lfw", "mnist", "olivetti"])
def test_fetch_lays_out_what_the_loaders_read_and_a_second_fetch_is_a_no_op(tmp_path, server, name):
    source = server.source(name, archives_for(name, tmp_path))
    root = tmp_path / "data"
    root.mkdir()
    report = fetch(source, root, stream=None)
    assert report.startswith(f"{name}: wrote {root / source.folder}")
    assert loaded_counts(name, root) == EXPECTED[name]
    provenance = (root / source.folder / "PROVENANCE.md").read_text()
    assert all(archive.sha256 in provenance for archive in source.archives) and source.citation in provenance
    assert sorted(p.name for p in root.iterdir()) == [source.folder]  # no downloads, no staging left
    assert not any(p.is_symlink() for p in (root / source.folder).rglob("*"))
    asked = len(server.requests)
    again = fetch(source, root, stream=None)
    assert "already in place" in again and "nothing downloaded" in again and len(server.requests) == asked


def test_members_outside_the_layout_and_links_are_never_written(tmp_path, server):
    root = tmp_path / "data"
    root.mkdir()
    fetch(server.source("orl", {"att_faces.zip": orl_zip()}), root, stream=None)
    fetch(server.source("lfw", {"lfw-funneled.tgz": lfw_tgz()}), root, stream=None)
    assert not (tmp_path / "escaped.txt").exists() and not (root / "escaped.txt").exists()
    assert not (root / "att_faces" / "s1" / "link.pgm").exists()
    assert not (root / "lfw_gray" / "public_rest" / "Di_Dunn_0002.jpg").exists()
    assert (root / "att_faces" / "README").read_text() == "The ORL face database"
    with Image.open(root / "lfw_gray" / "private_min20" / "Ann_Able" / "Ann_Able_0001.jpg") as image:
        assert (image.format, image.mode, image.size) == ("JPEG", "L", (24, 24))


def test_a_wrong_checksum_is_refused_and_nothing_is_left(tmp_path, server):
    wrong = "0" * 64
    source = server.source("orl", {"att_faces.zip": orl_zip()}, digests={"att_faces.zip": wrong})
    root = tmp_path / "data"
    root.mkdir()
    with pytest.raises(DataError) as error:
        fetch(source, root, stream=None)
    message = str(error.value)
    assert server.url("att_faces.zip") in message and wrong in message and "deleted" in message
    assert "\n" not in message
    assert list(root.iterdir()) == []


@pytest.mark.parametrize("ranges", [True, False, "wrong"], ids=[
    "resumed", "restarted-when-the-server-ignores-ranges", "restarted-when-the-server-sends-another-range"])
def test_a_dropped_connection_resumes_where_it_stopped(tmp_path, server, ranges):
    data = orl_zip()
    source = server.source("orl", {"att_faces.zip": data})
    server.drop_once.add("att_faces.zip")
    server.ranges = ranges
    root = tmp_path / "data"
    root.mkdir()
    fetch(source, root, stream=None)
    assert load_orl(root, 16).num_classes == 40
    rest = ("att_faces.zip", f"bytes={len(data) // 2}-")  # asks for the rest only
    again = [("att_faces.zip", None)] if ranges == "wrong" else []  # the wrong range is dropped, then from zero
    assert server.requests == [("att_faces.zip", None), rest, *again]


def test_a_partial_download_from_an_earlier_run_is_continued(tmp_path, server):
    data = lfw_tgz()
    archive = server.source("lfw", {"lfw-funneled.tgz": data}).archives[0]
    downloads = tmp_path / ".downloads"
    downloads.mkdir()
    (downloads / "lfw-funneled.tgz.part").write_bytes(data[:1000])
    path = download(archive, downloads, stream=None)
    assert path.read_bytes() == data and not (downloads / "lfw-funneled.tgz.part").exists()
    assert server.requests == [("lfw-funneled.tgz", "bytes=1000-")]


def test_an_unreachable_source_keeps_the_partial_download_for_the_next_fetch(tmp_path, server):
    data = orl_zip()
    source = server.source("orl", {"att_faces.zip": data})
    server.files.clear()  # every request now answers 404
    root = tmp_path / "data"
    (root / ".downloads").mkdir(parents=True)
    (root / ".downloads" / "att_faces.zip.part").write_bytes(data[:500])
    with pytest.raises(DataError, match="404"):
        fetch(source, root, stream=None)
    assert (root / ".downloads" / "att_faces.zip.part").read_bytes() == data[:500]
    assert sorted(p.name for p in root.iterdir()) == [".downloads"]


def test_an_incomplete_dataset_in_place_is_reported_and_left_alone(tmp_path, server):
    root = tmp_path / "data"
    (root / "att_faces" / "s1").mkdir(parents=True)
    (root / "att_faces" / "s1" / "1.pgm").write_bytes(pgm(0))
    with pytest.raises(DataError, match=r"399 of its 400 images are missing.*move it aside"):
        fetch(server.source("orl", {"att_faces.zip": orl_zip()}), root, stream=None)
    assert [p.name for p in (root / "att_faces").rglob("*")] == ["s1", "1.pgm"] and server.requests == []


def test_gray_images_are_kept_byte_for_byte_and_colour_ones_converted(tmp_path):
    gray, colour = jpeg(1, "L"), jpeg(2, "RGB")
    members = [(f"lfw/Ann_Able/Ann_Able_{i:04d}.jpg", lambda: gray) for i in range(1, 21)]
    members.append(("lfw/Bo_Bell/Bo_Bell_0001.jpg", lambda: colour))
    build_lfw_gray(members, tmp_path)
    assert (tmp_path / "private_min20" / "Ann_Able" / "Ann_Able_0007.jpg").read_bytes() == gray
    with Image.open(tmp_path / "public_rest" / "Bo_Bell_0001.jpg") as image:
        assert (image.format, image.mode) == ("JPEG", "L")


def test_the_lfw_builder_on_the_real_images_reproduces_the_project_folder(lfw_dir, tmp_path):
    """The real lfw_gray's 13,233 images, named as in LFW's archive (lfw_funneled/<Name>/<Name>_NNNN.jpg), give
    back its private_min20 and public_rest file lists and both TSVs byte for byte (already grayscale JPEGs, the
    files are copied as they are, not re-encoded)."""
    real = {}
    for path in sorted((lfw_dir / "private_min20").glob("*/*.jpg")):
        real[f"lfw_funneled/{path.parent.name}/{path.name}"] = path
    for path in sorted((lfw_dir / "public_rest").glob("*.jpg")):
        real[f"lfw_funneled/{path.name.rsplit('_', 1)[0]}/{path.name}"] = path
    assert len(real) == 13233
    build_lfw_gray([(member, path.read_bytes) for member, path in real.items()], tmp_path)
    for split in ("private_min20", "public_rest"):
        built = sorted(p.relative_to(tmp_path).as_posix() for p in (tmp_path / split).rglob("*"))
        assert built == sorted(p.relative_to(lfw_dir).as_posix() for p in (lfw_dir / split).rglob("*")), split
    for table in ("images.tsv", "identities.tsv"):
        assert (tmp_path / table).read_bytes() == (lfw_dir / table).read_bytes(), table
    placed = lfw_split(real)
    assert all(real[member].relative_to(lfw_dir).as_posix() == image.path for member, image in placed.items())
    assert all((tmp_path / image.path).stat().st_size == real[member].stat().st_size
               for member, image in placed.items())
    sample = list(placed.items())[::97]
    assert all((tmp_path / image.path).read_bytes() == real[member].read_bytes() for member, image in sample)


def test_missing_data_names_the_fetch_command(tmp_path, monkeypatch):
    for load, name in ((load_orl, "orl"), (load_lfw_private, "lfw"), (load_mnist, "mnist"),
                       (load_olivetti, "olivetti")):
        with pytest.raises(DataError) as error:
            load(tmp_path)
        assert f"`python -m core fetch {name} --data {tmp_path}`" in str(error.value)
    monkeypatch.setenv("MIDLAB_DATA", str(tmp_path))  # the default folder: the command needs no --data
    with pytest.raises(DataError, match="`python -m core fetch orl`"):
        load_orl(tmp_path)


def test_an_archive_that_does_not_unpack_is_reported_and_leaves_nothing_half_written(tmp_path, server):
    root = tmp_path / "data"
    root.mkdir()
    with pytest.raises(DataError, match=r"cannot unpack att_faces\.zip into .*att_faces: File is not a zip file"):
        fetch(server.source("orl", {"att_faces.zip": b"not a zip"}), root, stream=None)
    assert sorted(p.name for p in root.rglob("*")) == [".downloads", "att_faces.zip"]  # verified, kept
    half = io.BytesIO()
    with zipfile.ZipFile(half, "w") as archive:
        archive.writestr("s1/1.pgm", pgm(0))
    with pytest.raises(DataError, match=r"half\.zip did not give a complete orl dataset \(399 of its 400"):
        fetch(server.source("orl", {"half.zip": half.getvalue()}), tmp_path / "other", stream=None)
    assert sorted(p.name for p in (tmp_path / "other").rglob("*")) == [".downloads", "half.zip"]


def test_the_progress_bar_counts_bytes_and_the_rate(tmp_path, server):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    data = bytes(3 << 20)
    archive = server.source("orl", {"att_faces.zip": data}).archives[0]
    terminal, log = Terminal(), io.StringIO()
    download(archive, tmp_path / "a", stream=terminal)
    download(archive, tmp_path / "b", stream=log)
    assert "[####" in terminal.getvalue() and "3.0/3.0 MiB" in terminal.getvalue()
    assert "MiB/s" in terminal.getvalue() and terminal.getvalue().endswith("\n")
    assert re.fullmatch(r"  att_faces\.zip done \(3\.0/3\.0 MiB, [\d.]+ MiB/s, [\d.]+s\)\n", log.getvalue())


def test_the_command_line(capsys, data_dir, tmp_path):
    from core.__main__ import FETCH_ALL, FETCHABLE, main

    assert tuple(SOURCES) == FETCHABLE and set(FETCH_ALL) < set(FETCHABLE)
    assert main(["fetch", "orl", "--data", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert "orl: already in place" in out and "nothing downloaded" in out
    for person in range(1, 41):
        (tmp_path / "olivetti" / f"s{person}").mkdir(parents=True)
        for image in range(1, 11):
            (tmp_path / "olivetti" / f"s{person}" / f"{image}.pgm").write_bytes(pgm(image))
    assert main(["fetch-olivetti", "--data", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "`fetch-olivetti` is now `python -m core fetch olivetti`" in captured.err
    assert "olivetti: already in place" in captured.out
    (tmp_path / "olivetti" / "s1" / "1.pgm").unlink()
    assert main(["fetch", "olivetti", "--data", str(tmp_path)]) == 1
    assert "error: olivetti:" in capsys.readouterr().err
    (tmp_path / "a_file").write_text("not a folder")
    assert main(["fetch", "mnist", "--data", str(tmp_path / "a_file" / "data")]) == 1
    assert "error: mnist: [Errno 20] Not a directory" in capsys.readouterr().err
    status, _, err = run_cli(capsys, "fetch", "faces")
    assert status == 2 and "invalid choice" in err
