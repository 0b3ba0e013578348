"""Turns a recording (file, bytes or Gradio array) into mono samples at the models' rate, within the caller's limits."""

from __future__ import annotations

import io
import numbers
import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import soundfile as sf
import soxr

from deceptio.errors import AudioError, ParameterError
from deceptio.settings import Settings, positive_int, setting

__all__ = ["AUDIO_SUFFIXES", "SAMPLE_RATE", "HOP_LENGTH", "AudioConfig", "check_audio_file", "load_audio", "describe_source"]

SAMPLE_RATE = 16000  # the default analysis rate (FeatureConfig's); a card may set another
HOP_LENGTH = 160  # 10 ms at SAMPLE_RATE
AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".mp3"})  # what folders are searched for

# Fewer samples than this cannot survive resampling to anything usable.
_MIN_DURATION_S = 0.01
# Per-block budget, so a file with many channels or a lying header never makes
# one read allocate more than a few megabytes.
_BLOCK_SAMPLES = 1 << 20
# Magic bytes of the formats libsndfile reads, to tell "damaged audio" from
# "not audio at all" when libsndfile only says "format not recognised".
_AUDIO_MAGIC = (b"RIFF", b"RIFX", b"RF64", b"FORM", b"fLaC", b"OggS", b"ID3")
_SUPPORTED = "WAV, FLAC, OGG or MP3"


@dataclass(frozen=True)
class AudioConfig(Settings):
    """The caller's limits on incoming recordings: size, length, sample rates and the least speech analysed.

    What shapes a model's input (sample rate, hop, VAD) is not here: it is
    the model card's (:class:`~deceptio.audio.vad.VADConfig` and the feature
    configuration), so a caller cannot change what shipped weights hear.

    Raises
    ------
    ParameterError
        When a field is out of its domain; the message names field and value.
    """

    max_duration_s: float = setting(900.0, gt=0)  # 15 min: longer uploads are refused, not truncated
    min_speech_s: float = setting(2.0, ge=0)  # less speech than this cannot support a verdict
    min_input_rate: int = setting(8000, gt=0)  # narrow-band telephone audio is the poorest accepted
    max_input_rate: int = setting(192000, gt=0)  # highest rate studio recorders write
    max_bytes: int = setting(200_000_000, gt=0)  # refuse bigger files before decoding them

    def _check(self) -> None:
        self._require("min_speech_s", self.min_speech_s <= self.max_duration_s, f"<= max_duration_s={self.max_duration_s!r}")
        self._require(
            "max_input_rate", self.max_input_rate >= self.min_input_rate, f">= min_input_rate={self.min_input_rate!r}"
        )


def load_audio(
    source: str | os.PathLike[str] | bytes | tuple[int, np.ndarray],
    *,
    config: AudioConfig = AudioConfig(),
    sample_rate: int = SAMPLE_RATE,
    name: str | None = None,
) -> np.ndarray:
    """Load a recording as mono float32 samples at ``sample_rate``.

    Parameters
    ----------
    source : path, bytes or (sample_rate, array)
        A WAV, FLAC, OGG/Vorbis or MP3 file given by path or by its bytes, or
        the ``(sample_rate, array)`` pair of ``gr.Audio(type="numpy")`` with an
        integer or float array of shape (n,) or (n, channels).
    config : AudioConfig
        The limits on rate, duration and size.
    sample_rate : int > 0
        Rate to resample to (the feature configuration's).
    name : str or None
        What to call the recording in error messages; defaults to the file's
        basename, or "the recording".

    Returns
    -------
    y : np.ndarray [shape=(m,), dtype=float32]
        Channels averaged, resampled with soxr (HQ), mean removed.

    Raises
    ------
    AudioError
        When the recording is missing, empty, not audio, damaged, at a rate
        outside ``[min_input_rate, max_input_rate]``, too short, longer than
        ``max_duration_s``, larger than ``max_bytes``, or holds NaN or infinity.
    ParameterError
        When ``source`` is none of the accepted kinds.

    Examples
    --------
    >>> y = load_audio((44100, np.zeros((44100, 2), dtype=np.int16)))
    >>> y.shape, y.dtype
    ((16000,), dtype('float32'))
    """
    sample_rate = positive_int("sample_rate", sample_rate)
    label = describe_source(source, name)
    kwargs = {"label": label, "config": config, "sample_rate": sample_rate}
    if isinstance(source, tuple):
        rate, blocks = _array_blocks(source)
        _check_rate(rate, label=label, config=config)
        return _decode(blocks, rate, **kwargs)
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if not data:
            raise AudioError(f"{label} is empty (0 bytes)")
        if len(data) > config.max_bytes:
            raise AudioError(_too_large(label, len(data), config))
        return _read_file(io.BytesIO(data), **kwargs)
    if isinstance(source, (str, os.PathLike)):
        return _read_path(os.fspath(source), **kwargs)
    if source is None:
        raise AudioError("no recording was given")
    raise ParameterError(
        f"source of type {type(source).__name__} must be a path, bytes or a (sample_rate, array) tuple"
    )


def describe_source(source: object, name: str | None) -> str:
    if name:
        return name
    if isinstance(source, (str, os.PathLike)):
        return os.path.basename(os.fspath(source)) or "the recording"
    return "the recording"


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.1f} s"


def _too_large(label: str, n_bytes: int, config: AudioConfig) -> str:
    return f"{label} is too large ({n_bytes / 1e6:.1f} MB); the limit is {config.max_bytes / 1e6:.1f} MB"


def check_audio_file(path: str | os.PathLike, *, config: AudioConfig = AudioConfig(), name: str | None = None) -> None:
    """Refuse, from its size and header alone, a file that cannot be a usable recording; decodes nothing.

    What an upload is checked with before anyone presses Analyze: a folder, an
    empty or oversized file, a text or image file (whatever its suffix), a
    damaged header, an unsupported sample rate or an over-long recording raise
    :class:`AudioError` with the message :func:`load_audio` would give.
    """
    _read_path(os.fspath(path), label=describe_source(path, name), config=config, sample_rate=None)


def _read_path(path: str, *, label: str, config: AudioConfig, sample_rate: int | None) -> np.ndarray | None:
    if os.path.isdir(path):
        raise AudioError(f"{label} is a folder, not an audio file")
    try:
        size = os.path.getsize(path)
        if size > config.max_bytes:
            raise AudioError(_too_large(label, size, config))
        if size == 0:
            raise AudioError(f"{label} is empty (0 bytes)")
        with open(path, "rb") as fh:
            return _read_file(fh, label=label, config=config, sample_rate=sample_rate)
    except FileNotFoundError:
        raise AudioError(f"{label} was not found") from None
    except OSError as exc:
        raise AudioError(f"{label} could not be opened ({exc.strerror or 'system error'})") from None


def _read_file(fh: io.BufferedIOBase, *, label: str, config: AudioConfig, sample_rate: int | None) -> np.ndarray | None:
    """Decode to ``sample_rate`` after the header checks; ``sample_rate=None`` stops after them."""
    try:
        with sf.SoundFile(fh) as f:
            rate, frames = f.samplerate, f.frames
            _check_rate(rate, label=label, config=config)
            # Refuse an over-long file from its header, before decoding any of it.
            if frames / rate > config.max_duration_s:
                limit = _duration(config.max_duration_s)
                raise AudioError(f"{label} is {_duration(frames / rate)} long; the limit is {limit}")
            if sample_rate is None:
                return None
            return _decode(_file_blocks(f), rate, label=label, config=config, sample_rate=sample_rate)
    except sf.SoundFileError as exc:
        # libsndfile says "format not recognised" for text and images, but also
        # for a WAV cut off inside its header: the first bytes tell them apart.
        fh.seek(0)
        if getattr(exc, "code", None) == 1 and not _looks_like_audio(fh.read(4)):
            raise AudioError(f"{label} is not in a supported audio format ({_SUPPORTED})") from None
        raise AudioError(f"{label} is damaged or incomplete and cannot be decoded") from None


def _file_blocks(f: sf.SoundFile) -> Iterator[np.ndarray]:
    blocksize = max(1, _BLOCK_SAMPLES // f.channels)
    while len(block := f.read(blocksize, dtype="float32", always_2d=True)):
        yield block


def _looks_like_audio(head: bytes) -> bool:
    mpeg_sync = len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0
    return head.startswith(_AUDIO_MAGIC) or mpeg_sync


def _check_rate(rate: int, *, label: str, config: AudioConfig) -> None:
    if not config.min_input_rate <= rate <= config.max_input_rate:
        raise AudioError(
            f"{label} has a sample rate of {rate} Hz; rates from {config.min_input_rate} "
            f"to {config.max_input_rate} Hz are supported"
        )


def _array_blocks(source: tuple) -> tuple[int, Iterator[np.ndarray]]:
    if len(source) != 2:
        raise ParameterError(f"a recording tuple must be (sample_rate, array), not {len(source)} items")
    rate, array = source
    array = np.asarray(array)
    if isinstance(rate, bool) or not isinstance(rate, numbers.Integral):
        raise ParameterError(f"sample_rate={rate!r} must be an integer")
    if array.ndim == 1:
        array = array[:, np.newaxis]
    if array.ndim != 2 or array.shape[1] == 0 or array.dtype.kind not in "iuf":
        raise ParameterError(
            f"the recording array must be integer or float with shape (n,) or (n, channels), "
            f"not {array.dtype} with shape {np.shape(source[1])}"
        )
    if array.dtype.kind == "f":
        offset, scale = 0.0, 1.0
    else:
        info = np.iinfo(array.dtype)
        # Unsigned audio is centred on half scale.
        offset = 0.0 if info.min < 0 else (info.max + 1) / 2
        scale = 1.0 / max(-float(info.min), offset)
    blocksize = max(1, _BLOCK_SAMPLES // array.shape[1])

    def blocks() -> Iterator[np.ndarray]:
        for start in range(0, len(array), blocksize):
            block = array[start : start + blocksize].astype(np.float32)
            yield (block - np.float32(offset)) * np.float32(scale)

    return int(rate), blocks()


def _decode(blocks: Iterator[np.ndarray], rate: int, *, label: str, config: AudioConfig, sample_rate: int) -> np.ndarray:
    """Mix (frames, channels) blocks to mono, resample as a stream, remove DC."""
    max_frames = config.max_duration_s * rate
    resampler = (
        soxr.ResampleStream(rate, sample_rate, 1, dtype="float32", quality="HQ")
        if rate != sample_rate
        else None
    )
    out, n_frames = [], 0
    for block in blocks:
        n_frames += len(block)
        # The header's length can lie (or be absent, for arrays): count as we go.
        if n_frames > max_frames:
            limit = _duration(config.max_duration_s)
            raise AudioError(f"{label} is more than {limit} long; the limit is {limit}")
        # A matrix product averages the channels far faster than mean() along the short axis.
        mono = block @ np.full(block.shape[1], 1 / block.shape[1], dtype=np.float32)
        if not np.isfinite(mono).all():
            raise AudioError(f"{label} contains invalid samples (NaN or infinity)")
        out.append(resampler.resample_chunk(mono) if resampler else mono)
    if resampler:
        out.append(resampler.resample_chunk(np.empty(0, dtype=np.float32), last=True))
    if n_frames == 0:
        raise AudioError(f"{label} contains no audio samples")
    if n_frames < _MIN_DURATION_S * rate:
        raise AudioError(
            f"{label} holds only {n_frames} sample{'s' * (n_frames > 1)} "
            f"({1000 * n_frames / rate:.2f} ms); that is too short to be a recording"
        )
    y = np.concatenate(out)
    y -= np.float32(y.mean(dtype=np.float64))
    return y
