"""Every bad or odd recording a public demo must answer, built into a folder, and the app server the suites send them to.

Not a test module: ``tests/test_bad_inputs.py`` and ``tests/test_load.py`` import it.
:func:`build_bad_inputs` writes one file per kind, each with what deceptio must
answer: ``OK`` (a verdict) or a refusal whose message contains a given word.
Large cases stay cheap: the 30-minute file is 8 kHz 8-bit (14 MB), the
file over the upload limit is sparse (250 MB long, nothing written).
:func:`running_app` serves ``app.py`` on a free loopback port in a subprocess.
"""

from __future__ import annotations

import io
import os
import socket
import struct
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from matplotlib import image as mpimg

from conftest import REPO, WEIGHTS
from deceptio.audio import AudioConfig
from deceptio.synthetic import synthetic_speech

__all__ = ["OK", "KINDS", "BadInput", "build_bad_inputs", "free_port", "running_app", "REPO", "WEIGHTS"]

OK = "ok"
# Larger than the library's default cap (AudioConfig.max_bytes), so the library and the CLI refuse it
# too; the app under test runs with a smaller upload cap (UPLOAD_CAP_MB) and refuses it at the upload.
OVERSIZE_BYTES = AudioConfig().max_bytes + 50_000_000
UPLOAD_CAP_MB = 20  # the test server's --max-file-mb: above the 30-minute file (14.4 MB), far below OVERSIZE_BYTES
# Spaces, accents, CJK, and everything a shell would act on; `$(touch PWNED)` leaves a file if anything runs it.
KINDS = (  # what build_bad_inputs writes, in order: the list, each format and layout one kind
    "zero_bytes", "text_renamed_wav", "image_renamed_wav", "truncated_header", "header_claims_hours", "single_sample",
    "one_second_of_speech", "digital_silence_5_min", "white_noise_5_min", "dc_offset_only", "clipped_square_wave",
    "nan_in_float_wav", "inf_in_float_wav", "rate_8000", "rate_11025", "rate_96000", "rate_192000", "channels_2",
    "channels_6", "channels_8", "8_bit", "24_bit", "32_bit_float", "mp3", "ogg", "thirty_minutes", "over_upload_size",
    "odd_filename",
)
ODD_NAME = "my story — Zoë 日本語 $(touch PWNED) `id` ; rm -rf ~ & 'quoted' \"double\" | (1).wav"


@dataclass(frozen=True)
class BadInput:
    """One input kind: its file and what deceptio must answer.

    ``expect`` is :data:`OK` for a verdict, else a word the refusal's message
    contains. ``upload_expect`` is what the app answers instead when its
    upload route refuses the file before any analysis (the size cap).
    """

    kind: str
    path: Path
    expect: str
    upload_expect: str | None = None

    @property
    def refused(self) -> bool:
        return self.expect != OK


def wav_header(*, sample_rate: int, channels: int, bits: int, data_bytes: int) -> bytes:
    """A 44-byte PCM WAV header that claims ``data_bytes`` of samples (true or not)."""
    block = channels * bits // 8
    return (
        b"RIFF"
        + struct.pack("<I", (36 + data_bytes) & 0xFFFFFFFF)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, channels, sample_rate, sample_rate * block, block, bits)
        + b"data"
        + struct.pack("<I", data_bytes & 0xFFFFFFFF)
    )


def _speech(seconds: float, sample_rate: int = 16000) -> np.ndarray:
    return synthetic_speech(seconds, sample_rate=sample_rate)


def _png_bytes() -> bytes:
    buffer = io.BytesIO()
    gradient = np.linspace(0.0, 1.0, 64 * 64 * 3).reshape(64, 64, 3)
    mpimg.imsave(buffer, gradient, format="png")
    return buffer.getvalue()


def build_bad_inputs(folder: Path) -> list[BadInput]:
    """Write every kind into ``folder`` (which must exist) and return them in a fixed order."""
    rng = np.random.default_rng(0)
    cases: list[BadInput] = []

    def add(kind: str, name: str, expect: str, **kwargs) -> Path:
        path = folder / name
        cases.append(BadInput(kind, path, expect, **kwargs))
        return path

    ten_s = _speech(10.0)

    add("zero_bytes", "empty.wav", "empty").write_bytes(b"")
    add("text_renamed_wav", "notes.wav", "not in a supported audio format").write_text(
        "Dear diary, today I did not take the money.\n" * 40)
    add("image_renamed_wav", "photo.wav", "not in a supported audio format").write_bytes(_png_bytes())
    whole = io.BytesIO()
    sf.write(whole, ten_s, 16000, format="WAV", subtype="PCM_16")
    add("truncated_header", "cut.wav", "damaged").write_bytes(whole.getvalue()[:30])
    # The header claims three hours; ten seconds follow. libsndfile trusts the file's real length.
    pcm = (ten_s * 32767).astype("<i2").tobytes()
    add("header_claims_hours", "liar.wav", OK).write_bytes(
        wav_header(sample_rate=16000, channels=1, bits=16, data_bytes=3 * 3600 * 16000 * 2) + pcm)
    add("single_sample", "one_sample.wav", "only 1 sample").write_bytes(
        wav_header(sample_rate=16000, channels=1, bits=16, data_bytes=2) + b"\x10\x00")
    sf.write(add("one_second_of_speech", "one_second.wav", "at least 2.0 s"), _speech(1.0), 16000)
    sf.write(add("digital_silence_5_min", "silence.wav", "silent"), np.zeros(16000 * 300, dtype=np.int16), 16000)
    sf.write(add("white_noise_5_min", "noise.wav", "no speech"),
             (0.3 * rng.standard_normal(16000 * 300)).clip(-1, 1).astype(np.float32), 16000)
    sf.write(add("dc_offset_only", "dc.wav", "no speech"), np.full(16000 * 10, 0.5, dtype=np.float32), 16000)
    # A 150 Hz square wave at 1.5 × full scale, clipped to 16 bits on writing.
    square = 1.5 * np.sign(np.sin(2 * np.pi * 150 * np.arange(16000 * 10) / 16000))
    sf.write(add("clipped_square_wave", "square.wav", "no speech"), square.clip(-1, 1).astype(np.float32), 16000,
             subtype="PCM_16")
    with_nan = ten_s.copy()
    with_nan[5000:5100] = np.nan
    sf.write(add("nan_in_float_wav", "nan.wav", "NaN"), with_nan, 16000, subtype="FLOAT")
    with_inf = ten_s.copy()
    with_inf[7000] = np.inf
    sf.write(add("inf_in_float_wav", "inf.wav", "infinity"), with_inf, 16000, subtype="FLOAT")
    for rate in (8000, 11025, 96000, 192000):
        sf.write(add(f"rate_{rate}", f"rate_{rate}.wav", OK), _speech(10.0, rate), rate)
    for channels in (2, 6, 8):
        gains = np.linspace(1.0, 0.4, channels, dtype=np.float32)
        sf.write(add(f"channels_{channels}", f"channels_{channels}.wav", OK), ten_s[:, None] * gains, 16000)
    for subtype, label in (("PCM_U8", "8_bit"), ("PCM_24", "24_bit"), ("FLOAT", "32_bit_float")):
        sf.write(add(label, f"{label}.wav", OK), ten_s, 16000, subtype=subtype)
    sf.write(add("mp3", "story.mp3", OK), _speech(10.0, 44100), 44100, format="MP3", subtype="MPEG_LAYER_III")
    sf.write(add("ogg", "story.ogg", OK), _speech(10.0, 44100), 44100, format="OGG", subtype="VORBIS")
    # 30 minutes, twice the cap: ten seconds of 8 kHz speech tiled, 8-bit.
    tiled = np.tile(_speech(10.0, 8000), 180)
    sf.write(add("thirty_minutes", "thirty_minutes.wav", "the limit is 15.0 min"), tiled, 8000, subtype="PCM_U8")
    oversize = add("over_upload_size", "huge.wav", "too large", upload_expect="maximum")
    with oversize.open("wb") as handle:  # sparse: a real header, then a hole
        handle.write(wav_header(sample_rate=16000, channels=1, bits=16, data_bytes=OVERSIZE_BYTES - 44))
        handle.seek(OVERSIZE_BYTES - 1)
        handle.write(b"\x00")
    sf.write(add("odd_filename", ODD_NAME, OK), ten_s, 16000)
    if tuple(case.kind for case in cases) != KINDS:
        raise RuntimeError("build_bad_inputs and KINDS list different kinds: keep them in step")
    return cases


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class Server:
    """A running ``app.py``: its URL, process, log, and the temp folders it was given."""

    url: str
    process: subprocess.Popen
    log: Path
    tmpdir: Path  # TMPDIR of the server process
    gradio_tmpdir: Path  # GRADIO_TEMP_DIR: where Gradio keeps uploads
    cwd: Path  # its working folder


@contextmanager
def running_app(folder: Path, *args: str, startup_s: float = 180.0) -> Iterator[Server]:
    """``python app.py --port FREE ARGS`` on loopback, with its own temp folders under ``folder``; stopped on exit."""
    port = free_port()
    tmpdir, gradio_tmpdir, cwd = folder / "tmp", folder / "gradio", folder / "cwd"
    for path in (tmpdir, gradio_tmpdir, cwd):
        path.mkdir(parents=True, exist_ok=True)
    log_path = folder / "app.log"
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
           "TMPDIR": str(tmpdir), "GRADIO_TEMP_DIR": str(gradio_tmpdir)}
    for name in ("GRADIO_SERVER_NAME", "GRADIO_SERVER_PORT", "GRADIO_DEFAULT_CONCURRENCY_LIMIT"):
        env.pop(name, None)
    with open(log_path, "w") as log:
        process = subprocess.Popen([sys.executable, str(REPO / "app.py"), "--port", str(port), "--weights", str(WEIGHTS),
                                    *args], cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + startup_s
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"app.py exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"app.py did not answer on {url} within {startup_s:.0f} s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield Server(url, process, log_path, tmpdir, gradio_tmpdir, cwd)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
