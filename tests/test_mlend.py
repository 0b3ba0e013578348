from __future__ import annotations

import csv
import http.client
import io
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import soundfile as sf

from deceptio.training import mlend
from deceptio.training.data import load_manifest
from deceptio.errors import DataError, ParameterError
from deceptio.training.mlend import download_mlend, mlend_manifest, read_mlend_attributes

PREFIX = "/MLEndDatasets/Deception/raw/main"
ATTRIBUTES = "MLEndDD_story_attributes_small.csv"
AUDIO = "MLEndDD_stories_small"
STORIES = [  # filename, language, story type, seconds
    ("00001.wav", "Hindi", "deceptive_story", 0.3),
    ("00002.wav", "English", "true_story", 0.2),
    ("00003.wav", "Chinese, Mandarin", "deceptive_story", 4.0),  # ~128 kB: several chunks
    ("00004.wav", "English", "true_story", 0.25),
]
BIG = f"{AUDIO}/00003.wav"


def _wav(seconds: float, seed: int) -> bytes:
    buffer = io.BytesIO()
    noise = 0.1 * np.random.default_rng(seed).standard_normal(int(seconds * 16000))
    sf.write(buffer, noise, 16000, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def _attributes(rows) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["filename", "Language", "Story_type"])
    writer.writerows(rows)
    return buffer.getvalue().encode()


def _tree() -> dict[str, bytes]:
    files = {ATTRIBUTES: _attributes((name, language, kind) for name, language, kind, _ in STORIES)}
    for seed, (name, _, _, seconds) in enumerate(STORIES):
        files[f"{AUDIO}/{name}"] = _wav(seconds, seed)
    return files


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep pytest's output clean
        pass

    def do_HEAD(self) -> None:
        self._answer()

    def do_GET(self) -> None:
        self._answer()

    def _answer(self) -> None:
        fake: FakeMLEnd = self.server.fake
        ranged = self.headers.get("Range")
        fake.requests.append((self.command, self.path, ranged))
        if self.path.startswith("/moved/"):  # like github.com/.../raw/main -> raw.githubusercontent.com
            self.send_response(302)
            self.send_header("Location", self.path[len("/moved"):])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        name = self.path[len(PREFIX) + 1:] if self.path.startswith(PREFIX + "/") else None
        data = fake.files.get(name)
        if data is None:
            self.send_error(404)
            return
        start, status = 0, 200
        if ranged and not fake.ignore_range:
            start, status = int(re.fullmatch(r"bytes=(\d+)-", ranged)[1]), 206
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        body = data[start:]
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if self.command == "GET":
            if fake.truncate.get(name, 0) > 0:  # promise everything, send half, hang up
                fake.truncate[name] -= 1
                body = body[: len(body) // 2]
                self.close_connection = True
            self.wfile.write(body)


class FakeMLEnd:
    """A loopback HTTP server holding a small fake MLEnd tree under PREFIX; it records every request."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = dict(files)
        self.requests: list[tuple[str, str, str | None]] = []
        self.ignore_range = False
        self.truncate: dict[str, int] = {}  # file -> how many GETs to cut short
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.fake = self
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}{PREFIX}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def gets(self, name: str | None = None) -> list[tuple[str, str, str | None]]:
        return [r for r in self.requests if r[0] == "GET" and (name is None or r[1] == f"{PREFIX}/{name}")]


@pytest.fixture(autouse=True)
def _no_retry_pause(monkeypatch):
    monkeypatch.setattr(mlend, "_RETRY_PAUSE_S", 0.0)
    for name in ("no_proxy", "NO_PROXY"):  # a proxy set for CI must not catch the loopback server
        monkeypatch.setenv(name, "127.0.0.1,localhost")


@pytest.fixture
def server():
    with FakeMLEnd(_tree()) as fake:
        yield fake


def _leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.rglob("*.part"))


def test_download_then_manifest_gives_the_labels(server, tmp_path):
    folder = download_mlend(tmp_path / "mlend", base_url=server.url, progress=True)
    for name, data in server.files.items():
        assert (folder / name).read_bytes() == data
    assert _leftovers(folder) == []

    manifest = mlend_manifest(folder)
    assert manifest == folder / "manifest.csv"
    clips = load_manifest(manifest)
    assert {c.id: c.label for c in clips} == {"00001": 1, "00002": 0, "00003": 1, "00004": 0}
    assert [c.speaker for c in clips] == ["00001", "00002", "00003", "00004"]  # each story is its own speaker
    assert {c.gender for c in clips} == {"unknown"} and all(c.turns is None for c in clips)
    assert all(c.path == folder / AUDIO / f"{c.id}.wav" for c in clips)
    with open(manifest, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["language"] for r in rows] == [language for _, language, _, _ in STORIES]


def test_second_run_downloads_nothing(server, tmp_path):
    download_mlend(tmp_path, base_url=server.url, progress=False)
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
    first_gets = len(server.gets())
    assert first_gets == len(server.files)

    server.requests.clear()
    download_mlend(tmp_path, base_url=server.url, progress=False)
    assert server.gets() == []
    assert {r[0] for r in server.requests} == {"HEAD"} and len(server.requests) == len(server.files)
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()} == stamps


def test_a_half_written_part_is_continued_with_a_range_request(server, tmp_path):
    data = server.files[BIG]
    (tmp_path / AUDIO).mkdir()
    (tmp_path / AUDIO / "00003.wav.part").write_bytes(data[:50_000])

    download_mlend(tmp_path, base_url=server.url, progress=False)

    assert server.gets(BIG) == [("GET", f"{PREFIX}/{BIG}", "bytes=50000-")]
    assert (tmp_path / BIG).read_bytes() == data
    assert _leftovers(tmp_path) == []


def test_range_and_head_survive_a_redirect(server, tmp_path):
    data = server.files[BIG]
    (tmp_path / AUDIO).mkdir()
    (tmp_path / AUDIO / "00003.wav.part").write_bytes(data[:50_000])
    moved = server.url.replace(PREFIX, "/moved" + PREFIX)

    download_mlend(tmp_path, base_url=moved, progress=False)
    assert ("GET", f"{PREFIX}/{BIG}", "bytes=50000-") in server.requests  # the Range followed the redirect
    assert (tmp_path / BIG).read_bytes() == data

    server.requests.clear()
    download_mlend(tmp_path, base_url=moved, progress=False)
    assert server.gets() == []  # HEAD stays HEAD after the redirect


def test_an_interrupted_run_keeps_its_part_for_the_next(server, tmp_path, monkeypatch):
    data, read = server.files[BIG], http.client.HTTPResponse.read
    chunks = []

    def read_then_interrupt(response, amt=None):
        if response.url.endswith(BIG):
            chunks.append(amt)
            if len(chunks) == 2:
                raise KeyboardInterrupt
        return read(response, amt)

    monkeypatch.setattr(http.client.HTTPResponse, "read", read_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        download_mlend(tmp_path, base_url=server.url, progress=False)
    assert (tmp_path / AUDIO / "00003.wav.part").read_bytes() == data[: mlend._CHUNK_BYTES]
    assert not (tmp_path / BIG).exists()

    monkeypatch.setattr(http.client.HTTPResponse, "read", read)
    download_mlend(tmp_path, base_url=server.url, progress=False)
    assert server.gets(BIG)[-1][2] == f"bytes={mlend._CHUNK_BYTES}-"
    assert (tmp_path / BIG).read_bytes() == data and _leftovers(tmp_path) == []


def test_a_server_that_ignores_range_still_gives_the_right_file(server, tmp_path):
    server.ignore_range = True
    (tmp_path / AUDIO).mkdir()
    (tmp_path / AUDIO / "00003.wav.part").write_bytes(b"\xff" * 50_000)  # not even a prefix of the file

    download_mlend(tmp_path, base_url=server.url, progress=False)

    assert server.gets(BIG)[0][2] == "bytes=50000-"  # asked to resume, answered 200 with everything
    assert (tmp_path / BIG).read_bytes() == server.files[BIG]


def test_an_oversized_part_is_started_again(server, tmp_path):
    data = server.files[f"{AUDIO}/00002.wav"]
    (tmp_path / AUDIO).mkdir()
    (tmp_path / AUDIO / "00002.wav.part").write_bytes(data + b"junk")  # the server answers 416

    download_mlend(tmp_path, base_url=server.url, progress=False)
    assert (tmp_path / AUDIO / "00002.wav").read_bytes() == data


def test_a_truncated_answer_is_retried_from_where_it_stopped(server, tmp_path):
    data = server.files[BIG]
    server.truncate[BIG] = 1

    download_mlend(tmp_path, base_url=server.url, progress=False, retries=2)

    gets = server.gets(BIG)
    assert [r[2] for r in gets] == [None, f"bytes={len(data) // 2}-"]
    assert (tmp_path / BIG).read_bytes() == data


def test_a_server_that_always_truncates_fails_and_leaves_nothing(server, tmp_path):
    server.truncate[BIG] = 99
    server.ignore_range = True  # each try sends half the file again: never complete

    with pytest.raises(DataError, match=r"00003\.wav.*sent \S+ of \S+ bytes.*gave up after 3 tries"):
        download_mlend(tmp_path, base_url=server.url, progress=False, retries=2)

    assert len(server.gets(BIG)) == 3
    assert not (tmp_path / BIG).exists()
    assert _leftovers(tmp_path) == []


def test_a_complete_file_of_the_wrong_size_is_fetched_again(server, tmp_path):
    download_mlend(tmp_path, base_url=server.url, progress=False)
    (tmp_path / AUDIO / "00001.wav").write_bytes(b"RIFF" + b"\0" * 10)
    server.requests.clear()

    download_mlend(tmp_path, base_url=server.url, progress=False)
    assert len(server.gets()) == 1
    assert (tmp_path / AUDIO / "00001.wav").read_bytes() == server.files[f"{AUDIO}/00001.wav"]


def test_a_wrong_base_url_is_a_404(server, tmp_path):
    with pytest.raises(DataError, match=r"does not exist on the server \(HTTP 404\)"):
        download_mlend(tmp_path, base_url=server.url + "/nowhere", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_a_listed_file_missing_on_the_server_is_a_404(server, tmp_path):
    del server.files[f"{AUDIO}/00004.wav"]
    with pytest.raises(DataError, match=r"00004\.wav does not exist on the server"):
        download_mlend(tmp_path, base_url=server.url, progress=False)
    assert _leftovers(tmp_path) == []


def test_an_unreachable_server_fails_quickly(tmp_path):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(DataError, match=rf"cannot reach 127\.0\.0\.1:{port}"):
        download_mlend(tmp_path, base_url=f"http://127.0.0.1:{port}/x", progress=False)
    assert time.monotonic() - start < 3
    assert list(tmp_path.iterdir()) == []


def test_a_silent_server_times_out(tmp_path):
    with socket.socket() as silent:  # accepts connections (backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        start = time.monotonic()
        with pytest.raises(DataError, match="could not download"):
            download_mlend(tmp_path, base_url=f"http://127.0.0.1:{silent.getsockname()[1]}/x",
                           progress=False, timeout=0.2, retries=1)
        assert time.monotonic() - start < 3


@pytest.mark.parametrize(
    "attributes, message",
    [
        (b"filename,Language\n00001.wav,Hindi\n", r"lacks the column\(s\) \['story_type'\]"),
        (b"filename,Language,Story_type\n00001.wav,Hindi,maybe\n", "line 2: Story_type 'maybe' is neither"),
        (b"filename,Language,Story_type\n../evil.wav,Hindi,true_story\n", "not a plain file name"),
        (b"filename,Language,Story_type\nmanifest.csv,Hindi,true_story\n", "not an audio file"),
        (b"filename,Language,Story_type\n", "lists no stories"),
        (b"\xff\xfe\x00bad", "not UTF-8"),
    ],
)
def test_a_malformed_attributes_csv_is_refused(server, tmp_path, attributes, message):
    server.files[ATTRIBUTES] = attributes
    with pytest.raises(DataError, match=message):
        download_mlend(tmp_path, base_url=server.url, progress=False)
    assert server.gets() == [("GET", f"{PREFIX}/{ATTRIBUTES}", None)]  # no audio asked for


def test_attribute_spellings_and_extra_columns(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text(
        "\ufefffilename,Language,Story Type,Benchmark_A,Participant,Gender,size\n"
        "00001.wav,Chinese,True Story,Train,p7,female,1234\n"
        "00002.wav,English,Deceptive Story,Test,,,\n"
    )
    first, second = read_mlend_attributes(path)
    assert (first.label, first.language, first.speaker, first.gender, first.size) == ("truthful", "Chinese", "p7", "F", 1234)
    assert (second.label, second.speaker, second.gender, second.size) == ("deceptive", None, "unknown", None)


def test_a_size_column_is_checked(server, tmp_path):
    rows = [(name, language, kind, len(server.files[f"{AUDIO}/{name}"])) for name, language, kind, _ in STORIES]
    rows[1] = (*rows[1][:3], rows[1][3] + 1)
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([("filename", "Language", "Story_type", "size"), *rows])
    server.files[ATTRIBUTES] = buffer.getvalue().encode()

    with pytest.raises(DataError, match=r"00002\.wav is \S+ bytes on the server but \S+ in the attributes"):
        download_mlend(tmp_path, base_url=server.url, progress=False)
    assert not (tmp_path / AUDIO / "00002.wav").exists() and _leftovers(tmp_path) == []


def test_absurd_sizes_are_refused(server, tmp_path, monkeypatch):
    monkeypatch.setattr(mlend, "_MAX_FILE_BYTES", 100_000)
    with pytest.raises(DataError, match=r"00003\.wav is \S+ bytes, more than the 100,000"):
        download_mlend(tmp_path, base_url=server.url, progress=False)
    assert not (tmp_path / BIG).exists() and _leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "body, message",
    [
        (b"version https://git-lfs.github.com/spec/v1\noid sha256:ab\nsize 9\n", "Git LFS pointer"),
        (b"<!DOCTYPE html><html>sign in</html>", "web page"),
        (b"\0" * 64, "not a WAV file"),
    ],
)
def test_what_is_not_audio_is_refused(server, tmp_path, body, message):
    server.files[f"{AUDIO}/00002.wav"] = body
    with pytest.raises(DataError, match=message):
        download_mlend(tmp_path, base_url=server.url, progress=False)
    assert not (tmp_path / AUDIO / "00002.wav").exists() and _leftovers(tmp_path) == []


def test_the_manifest_refuses_missing_stories(server, tmp_path):
    download_mlend(tmp_path, base_url=server.url, progress=False)
    (tmp_path / AUDIO / "00002.wav").unlink()
    (tmp_path / AUDIO / "00004.wav").unlink()
    with pytest.raises(DataError, match=r"2 of 4 stories .* missing .*: 00002\.wav, 00004\.wav"):
        mlend_manifest(tmp_path)
    assert not (tmp_path / "manifest.csv").exists()


def test_the_manifest_needs_an_attributes_file(tmp_path):
    with pytest.raises(DataError, match="no MLEnd attributes file"):
        mlend_manifest(tmp_path)


@pytest.mark.parametrize(
    "kwargs, name",
    [({"subset": "huge"}, "subset"), ({"base_url": "ftp://x/y"}, "base_url"),
     ({"timeout": 0}, "timeout"), ({"retries": -1}, "retries")],
)
def test_bad_arguments_are_refused(tmp_path, kwargs, name):
    with pytest.raises(ParameterError, match=name):
        download_mlend(tmp_path, progress=False, **kwargs)


def test_cli_download_writes_the_manifest(server, tmp_path, capsys):
    from deceptio.cli import main

    assert main(["download", "mlend", str(tmp_path / "m"), "--base-url", server.url]) == 0
    assert "manifest" in capsys.readouterr().out
    assert len(load_manifest(tmp_path / "m" / "manifest.csv")) == len([n for n in server.files if n.endswith(".wav")])
    assert main(["download", "mlend", str(tmp_path / "x"), "--base-url", server.url + "/nothing-here"]) == 2
    assert "HTTP 404" in capsys.readouterr().err
