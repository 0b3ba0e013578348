"""The exceptions deceptio raises for input a person or a file got wrong."""

from __future__ import annotations

__all__ = [
    "DeceptioError",
    "AudioError",
    "ParameterError",
    "UnknownVariantError",
    "WeightsError",
    "DataError",
]


class DeceptioError(Exception):
    """Base class: every error deceptio raises on purpose derives from it.

    The message is written for the person who caused it and is safe to show
    as is (on the page, on stderr).
    """


class AudioError(DeceptioError):
    """The recording cannot be analysed: unreadable, empty, silent, too short or too long."""


class ParameterError(DeceptioError, ValueError):
    """A function or command received an argument outside its domain."""


class UnknownVariantError(ParameterError, KeyError):
    """A model variant name that is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class WeightsError(DeceptioError):
    """A weights file or its card is missing, tampered with or does not match."""


class DataError(DeceptioError):
    """A manifest, its turns or its labels are malformed."""
