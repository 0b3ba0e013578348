"""A recording ready for the models: loaded within the caller's limits, its speech found by the card's VAD."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from deceptio.audio.io import HOP_LENGTH, SAMPLE_RATE, AudioConfig, describe_source, load_audio
from deceptio.audio.vad import VADConfig, speech_mask
from deceptio.errors import AudioError, ParameterError
from deceptio.settings import positive_int

__all__ = ["Recording", "prepare"]


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
        positive_int("hop_length", self.hop_length)
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


def prepare(
    source: str | os.PathLike[str] | bytes | tuple[int, np.ndarray],
    *,
    config: AudioConfig = AudioConfig(),
    vad: VADConfig = VADConfig(),
    sample_rate: int = SAMPLE_RATE,
    hop_length: int = HOP_LENGTH,
    name: str | None = None,
) -> Recording:
    """Load a recording and find its speech, refusing one with too little.

    Parameters
    ----------
    source : path, bytes or (sample_rate, array)
        As for `load_audio`.
    config : AudioConfig
        The caller's limits.
    vad : VADConfig
    sample_rate, hop_length : int > 0
        The analysis rate and the frame hop of the speech mask (a card's
        feature configuration gives both).
    name : str or None
        What to call the recording in error messages.

    Returns
    -------
    recording : Recording
        Samples at ``sample_rate`` and their speech mask at ``hop_length``.

    Raises
    ------
    AudioError
        Everything `load_audio` refuses, and a recording with no speech or
        with less than ``config.min_speech_s`` seconds of it.
    """
    samples = load_audio(source, config=config, sample_rate=sample_rate, name=name)
    speech = speech_mask(samples, vad, sample_rate=sample_rate, hop_length=hop_length)
    recording = Recording(samples, sample_rate, speech, hop_length)
    label = describe_source(source, name)
    if not speech.any():
        raise AudioError(f"no speech found: {label} is silent, too quiet, or a steady sound without speech")
    if recording.speech_s < config.min_speech_s:
        raise AudioError(
            f"only {recording.speech_s:.1f} s of speech found in {label}; "
            f"at least {config.min_speech_s:.1f} s are needed"
        )
    return recording
