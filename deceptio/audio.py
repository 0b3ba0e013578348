"""Turns a recording (file, bytes or Gradio array) into mono 16 kHz samples and a speech mask."""

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
from deceptio.settings import Settings, check_setting, setting

__all__ = [
    "SAMPLE_RATE",
    "HOP_LENGTH",
    "AudioConfig",
    "Recording",
    "load_audio",
    "speech_mask",
    "speech_segments",
    "prepare",
]

SAMPLE_RATE = 16000
HOP_LENGTH = 160  # 10 ms at SAMPLE_RATE

# Fewer samples than this cannot survive resampling to anything usable.
_MIN_DURATION_S = 0.01
# Levels are clamped here so digital silence counts as a very quiet floor
# rather than minus infinity (16-bit quantisation noise sits near -101 dBFS).
_SILENCE_DB = -90.0
# Per-block budget, so a file with many channels or a lying header never makes
# one read allocate more than a few megabytes.
_BLOCK_SAMPLES = 1 << 20
# Magic bytes of the formats libsndfile reads, to tell "damaged audio" from
# "not audio at all" when libsndfile only says "format not recognised".
_AUDIO_MAGIC = (b"RIFF", b"RIFX", b"RF64", b"FORM", b"fLaC", b"OggS", b"ID3")
_SUPPORTED = "WAV, FLAC, OGG or MP3"


def _is_int(x: object) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def _raise_unmet(owner: str, rules: dict[str, tuple[object, bool, str]]) -> None:
    for name, (value, ok, rule) in rules.items():
        if not ok:
            raise ParameterError(f"{owner}{name}={value!r} must be {rule}")


@dataclass(frozen=True)
class AudioConfig(Settings):
    """How recordings are loaded, bounded and split into speech and silence.

    The ``vad_`` fields are the arguments of `speech_mask`, which checks
    its arguments by these fields' rules.

    Raises
    ------
    ParameterError
        When a field is out of its domain; the message names field and value.
    """

    sample_rate: int = setting(SAMPLE_RATE, gt=0)  # rate every recording is resampled to
    hop_length: int = setting(HOP_LENGTH, gt=0)  # samples between speech-mask frames; must match the features
    max_duration_s: float = setting(900.0, gt=0)  # 15 min: longer uploads are refused, not truncated
    min_speech_s: float = setting(2.0, ge=0)  # less speech than this cannot support a verdict
    min_input_rate: int = setting(8000, gt=0)  # narrow-band telephone audio is the poorest accepted
    max_input_rate: int = setting(192000, gt=0)  # highest rate studio recorders write
    max_bytes: int = setting(200_000_000, gt=0)  # refuse bigger files before decoding them
    vad_frame_length: int = setting(320, gt=0)  # 20 ms energy window, centred on each frame; longer ones smear the edges
    vad_floor_db: float = setting(-55.0, le=0)  # nothing quieter than this (dBFS RMS) is speech
    vad_noise_percentile: float = setting(10.0, ge=0, le=100)  # frame level taken as the noise floor
    vad_loud_percentile: float = setting(95.0, ge=0, le=100)  # frame level taken as loud speech
    vad_threshold_ratio: float = setting(0.3, ge=0, le=1)  # threshold sits this far from noise floor to loud speech
    vad_min_snr_db: float = setting(6.0, ge=0)  # ... and at least this far above the noise floor
    vad_min_gap_s: float = setting(0.3, ge=0)  # pauses shorter than this stay inside the speech
    vad_min_island_s: float = setting(0.1, ge=0)  # bursts shorter than this (clicks) are not speech

    def _check(self) -> None:
        self._require("min_speech_s", self.min_speech_s <= self.max_duration_s, f"<= max_duration_s={self.max_duration_s!r}")
        self._require(
            "max_input_rate", self.max_input_rate >= self.min_input_rate, f">= min_input_rate={self.min_input_rate!r}"
        )
        self._require(
            "vad_loud_percentile",
            self.vad_loud_percentile > self.vad_noise_percentile,
            f"above vad_noise_percentile={self.vad_noise_percentile!r}",
        )

    def speech_mask_kwargs(self) -> dict[str, object]:
        """The keyword arguments that make `speech_mask` use this configuration."""
        return {"sample_rate": self.sample_rate, "hop_length": self.hop_length, **self._vad_kwargs()}

    def _vad_kwargs(self) -> dict[str, object]:
        return {
            "frame_length": self.vad_frame_length,
            "floor_db": self.vad_floor_db,
            "noise_percentile": self.vad_noise_percentile,
            "loud_percentile": self.vad_loud_percentile,
            "threshold_ratio": self.vad_threshold_ratio,
            "min_snr_db": self.vad_min_snr_db,
            "min_gap_s": self.vad_min_gap_s,
            "min_island_s": self.vad_min_island_s,
        }


_DEFAULT_CONFIG = AudioConfig()


@dataclass(frozen=True)
class Recording:
    """A loaded recording and which of its frames hold speech.

    Attributes
    ----------
    samples : np.ndarray [shape=(n,), dtype=float32]
        Mono samples at ``sample_rate``, DC removed.
    sample_rate : int > 0
    speech : np.ndarray [shape=(1 + n // hop_length,), dtype=bool]
        Frame ``t`` (centred on sample ``t * hop_length``) holds speech.
    hop_length : int > 0

    Raises
    ------
    ParameterError
        When ``speech`` does not have one frame per hop of ``samples``.
    """

    samples: np.ndarray
    sample_rate: int
    speech: np.ndarray
    hop_length: int = HOP_LENGTH

    def __post_init__(self) -> None:
        if not (_is_int(self.hop_length) and self.hop_length > 0):
            raise ParameterError(f"hop_length={self.hop_length!r} must be an integer > 0")
        expected = 1 + len(self.samples) // self.hop_length
        if self.speech.shape != (expected,):
            raise ParameterError(
                f"speech has shape {self.speech.shape}; {len(self.samples)} samples at "
                f"hop_length={self.hop_length} need ({expected},)"
            )

    @property
    def duration_s(self) -> float:
        """Length of the recording in seconds."""
        return len(self.samples) / self.sample_rate

    @property
    def speech_s(self) -> float:
        """Seconds of speech: speech frames times the hop."""
        return int(self.speech.sum()) * self.hop_length / self.sample_rate

    @property
    def n_frames(self) -> int:
        """Number of frames, ``1 + n // hop_length``."""
        return len(self.speech)


def load_audio(
    source: str | os.PathLike[str] | bytes | tuple[int, np.ndarray],
    *,
    config: AudioConfig = _DEFAULT_CONFIG,
    name: str | None = None,
) -> np.ndarray:
    """Load a recording as mono float32 samples at ``config.sample_rate``.

    Parameters
    ----------
    source : path, bytes or (sample_rate, array)
        A WAV, FLAC, OGG/Vorbis or MP3 file given by path or by its bytes, or
        the ``(sample_rate, array)`` pair of ``gr.Audio(type="numpy")`` with an
        integer or float array of shape (n,) or (n, channels).
    config : AudioConfig
        Target rate and the limits on rate, duration and size.
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
    label = _label(source, name)
    if isinstance(source, tuple):
        rate, blocks = _array_blocks(source)
        _check_rate(rate, label=label, config=config)
        return _decode(blocks, rate, label=label, config=config)
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if not data:
            raise AudioError(f"{label} is empty (0 bytes)")
        if len(data) > config.max_bytes:
            raise AudioError(_too_large(label, len(data), config))
        return _read_file(io.BytesIO(data), label=label, config=config)
    if isinstance(source, (str, os.PathLike)):
        return _read_path(os.fspath(source), label=label, config=config)
    if source is None:
        raise AudioError("no recording was given")
    raise ParameterError(
        f"source of type {type(source).__name__} must be a path, bytes or a (sample_rate, array) tuple"
    )


def _label(source: object, name: str | None) -> str:
    if name:
        return name
    if isinstance(source, (str, os.PathLike)):
        return os.path.basename(os.fspath(source)) or "the recording"
    return "the recording"


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.1f} s"


def _too_large(label: str, n_bytes: int, config: AudioConfig) -> str:
    return f"{label} is too large ({n_bytes / 1e6:.1f} MB); the limit is {config.max_bytes / 1e6:.1f} MB"


def _read_path(path: str, *, label: str, config: AudioConfig) -> np.ndarray:
    if os.path.isdir(path):
        raise AudioError(f"{label} is a folder, not an audio file")
    try:
        size = os.path.getsize(path)
        if size > config.max_bytes:
            raise AudioError(_too_large(label, size, config))
        if size == 0:
            raise AudioError(f"{label} is empty (0 bytes)")
        with open(path, "rb") as fh:
            return _read_file(fh, label=label, config=config)
    except FileNotFoundError:
        raise AudioError(f"{label} was not found") from None
    except OSError as exc:
        raise AudioError(f"{label} could not be opened ({exc.strerror or 'system error'})") from None


def _read_file(fh: io.BufferedIOBase, *, label: str, config: AudioConfig) -> np.ndarray:
    try:
        with sf.SoundFile(fh) as f:
            rate, frames = f.samplerate, f.frames
            _check_rate(rate, label=label, config=config)
            # Refuse an over-long file from its header, before decoding any of it.
            if frames / rate > config.max_duration_s:
                limit = _duration(config.max_duration_s)
                raise AudioError(f"{label} is {_duration(frames / rate)} long; the limit is {limit}")
            return _decode(_file_blocks(f), rate, label=label, config=config)
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
    if not _is_int(rate):
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


def _decode(blocks: Iterator[np.ndarray], rate: int, *, label: str, config: AudioConfig) -> np.ndarray:
    """Mix (frames, channels) blocks to mono, resample as a stream, remove DC."""
    max_frames = config.max_duration_s * rate
    resampler = (
        soxr.ResampleStream(rate, config.sample_rate, 1, dtype="float32", quality="HQ")
        if rate != config.sample_rate
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


def speech_mask(
    y: np.ndarray,
    *,
    sample_rate: int = SAMPLE_RATE,
    hop_length: int = HOP_LENGTH,
    frame_length: int = 320,
    floor_db: float = -55.0,
    noise_percentile: float = 10.0,
    loud_percentile: float = 95.0,
    threshold_ratio: float = 0.3,
    min_snr_db: float = 6.0,
    min_gap_s: float = 0.3,
    min_island_s: float = 0.1,
) -> np.ndarray:
    """Mark the frames that hold speech, by energy.

    A frame is speech when its RMS level is above ``floor_db`` and above an
    adaptive threshold: ``threshold_ratio`` of the way from the recording's
    noise floor (its ``noise_percentile`` level) to its loud frames (its
    ``loud_percentile`` level), and at least ``min_snr_db`` over the noise
    floor. Digitally silent frames are left out of both percentiles. Pauses
    shorter than ``min_gap_s`` are then filled and bursts shorter than
    ``min_island_s`` dropped.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono samples, full scale 1.0.
    sample_rate : int > 0
    hop_length : int > 0
        Frame ``t`` is centred on sample ``t * hop_length``.
    frame_length : int > 0
        Samples in each energy window, zero padded at the edges.
    floor_db : float <= 0
        Absolute threshold in dBFS RMS.
    noise_percentile, loud_percentile : float in [0, 100]
        ``noise_percentile < loud_percentile``.
    threshold_ratio : float in [0, 1]
    min_snr_db : float >= 0
    min_gap_s, min_island_s : float >= 0

    Returns
    -------
    mask : np.ndarray [shape=(1 + n // hop_length,), dtype=bool]

    Raises
    ------
    ParameterError
        When ``y`` is not a finite 1-D array or a parameter is out of range.

    Examples
    --------
    >>> y = np.zeros(16000, dtype=np.float32)
    >>> y[4000:12000] = 0.1 * np.sin(np.arange(8000))
    >>> int(speech_mask(y).sum())  # 50 frames of tone, and the one centred on its end
    51
    """
    y = np.asarray(y)
    if y.ndim != 1 or y.dtype.kind != "f" or not np.isfinite(y).all():
        raise ParameterError(f"y must be a finite 1-D float array, not {y.dtype} with shape {y.shape}")
    # Each argument by the rules of the AudioConfig field it stands for: frame_length by vad_frame_length's, ...
    arguments = {
        "sample_rate": sample_rate,
        "hop_length": hop_length,
        "frame_length": frame_length,
        "floor_db": floor_db,
        "noise_percentile": noise_percentile,
        "loud_percentile": loud_percentile,
        "threshold_ratio": threshold_ratio,
        "min_snr_db": min_snr_db,
        "min_gap_s": min_gap_s,
        "min_island_s": min_island_s,
    }
    for name, value in arguments.items():
        check_setting(AudioConfig, name if name in ("sample_rate", "hop_length") else f"vad_{name}", value, label=name)
    if not loud_percentile > noise_percentile:
        raise ParameterError(f"loud_percentile={loud_percentile!r} must be above noise_percentile={noise_percentile!r}")
    n_frames = 1 + len(y) // hop_length
    # Zero padding keeps every frame centred on t * hop_length, as the features' frames are.
    left = frame_length // 2
    padded = np.zeros(len(y) + frame_length + 1)
    padded[left + 1 : left + 1 + len(y)] = np.square(y, dtype=np.float64)
    energy = np.cumsum(padded)
    starts = np.arange(n_frames) * hop_length
    power = (energy[starts + frame_length] - energy[starts]) / frame_length
    level_db = 10.0 * np.log10(np.maximum(power, 10.0 ** (_SILENCE_DB / 10.0)))

    noise_db, loud_db = np.percentile(level_db, [noise_percentile, loud_percentile])
    threshold = max(
        floor_db,
        noise_db + min_snr_db,
        noise_db + threshold_ratio * (loud_db - noise_db),
    )
    starts, ends = _runs(level_db > threshold)
    if not len(starts):
        return np.zeros(n_frames, dtype=bool)
    frames_per_s = sample_rate / hop_length
    long_gap = starts[1:] - ends[:-1] >= round(min_gap_s * frames_per_s)
    starts, ends = starts[np.r_[True, long_gap]], ends[np.r_[long_gap, True]]
    long_island = ends - starts >= round(min_island_s * frames_per_s)
    starts, ends = starts[long_island], ends[long_island]

    change = np.zeros(n_frames + 1, dtype=np.int8)
    change[starts], change[ends] = 1, -1
    return np.cumsum(change[:-1]) > 0


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and (exclusive) end indices of the runs of True in ``mask``."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.astype(np.int8), [0]))))
    return edges[::2], edges[1::2]


def speech_segments(mask: np.ndarray, *, hop_length: int, sample_rate: int) -> list[tuple[float, float]]:
    """Turn a speech mask into (start, end) times.

    Parameters
    ----------
    mask : np.ndarray [shape=(T,), dtype=bool]
        As returned by `speech_mask`.
    hop_length : int > 0
    sample_rate : int > 0

    Returns
    -------
    segments : list of (start_s, end_s)
        One per run of speech frames, in seconds; ``end_s - start_s`` is the
        run's frame count times the hop, so the lengths add up to the speech
        duration of `Recording.speech_s`.

    Raises
    ------
    ParameterError
        When ``mask`` is not 1-D or ``hop_length``/``sample_rate`` are not integers > 0.

    Examples
    --------
    >>> speech_segments(np.array([0, 1, 1, 0, 1], bool), hop_length=160, sample_rate=16000)
    [(0.01, 0.03), (0.04, 0.05)]
    """
    mask = np.asarray(mask)
    _raise_unmet(
        "",
        {
            "mask.ndim": (mask.ndim, mask.ndim == 1, "1"),
            "hop_length": (hop_length, _is_int(hop_length) and hop_length > 0, "an integer > 0"),
            "sample_rate": (sample_rate, _is_int(sample_rate) and sample_rate > 0, "an integer > 0"),
        },
    )
    seconds_per_frame = hop_length / sample_rate
    starts, ends = _runs(mask.astype(bool))
    return [(s * seconds_per_frame, e * seconds_per_frame) for s, e in zip(starts.tolist(), ends.tolist())]


def prepare(
    source: str | os.PathLike[str] | bytes | tuple[int, np.ndarray],
    *,
    config: AudioConfig = _DEFAULT_CONFIG,
    name: str | None = None,
) -> Recording:
    """Load a recording and find its speech, refusing one with too little.

    Parameters
    ----------
    source : path, bytes or (sample_rate, array)
        As for `load_audio`.
    config : AudioConfig
    name : str or None
        What to call the recording in error messages.

    Returns
    -------
    recording : Recording
        Samples at ``config.sample_rate`` and their speech mask at ``config.hop_length``.

    Raises
    ------
    AudioError
        Everything `load_audio` refuses, and a recording with no speech or
        with less than ``config.min_speech_s`` seconds of it.
    """
    samples = load_audio(source, config=config, name=name)
    speech = speech_mask(samples, **config.speech_mask_kwargs())
    recording = Recording(samples, config.sample_rate, speech, config.hop_length)
    label = _label(source, name)
    if not speech.any():
        raise AudioError(f"no speech found: {label} is silent, too quiet, or a steady sound without speech")
    if recording.speech_s < config.min_speech_s:
        raise AudioError(
            f"only {recording.speech_s:.1f} s of speech found in {label}; "
            f"at least {config.min_speech_s:.1f} s are needed"
        )
    return recording
