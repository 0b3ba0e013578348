"""Audio in: loading any file within the caller's limits (:mod:`.io`), finding speech (:mod:`.vad`), both together (:mod:`.recording`)."""

from __future__ import annotations

from deceptio.audio.io import AUDIO_SUFFIXES, HOP_LENGTH, SAMPLE_RATE, AudioConfig, check_audio_file, load_audio
from deceptio.audio.recording import Recording, prepare
from deceptio.audio.vad import VADConfig, speech_mask, speech_segments

__all__ = [
    "AUDIO_SUFFIXES",
    "SAMPLE_RATE",
    "HOP_LENGTH",
    "AudioConfig",
    "VADConfig",
    "Recording",
    "check_audio_file",
    "load_audio",
    "speech_mask",
    "speech_segments",
    "prepare",
]
