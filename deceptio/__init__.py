"""deceptio: listens to a spoken story and estimates, with honest and calibrated figures, whether it is truthful or deceptive."""

from __future__ import annotations

__version__ = "0.1.0"

from deceptio.errors import AudioError, DeceptioError, ParameterError, UnknownVariantError, WeightsError  # noqa: E402

__all__ = [
    "__version__",
    "DeceptioError",
    "AudioError",
    "ParameterError",
    "UnknownVariantError",
    "WeightsError",
    "Detector",
    "Analysis",
    "WindowPrediction",
    "VARIANTS",
]


def __getattr__(name: str):
    # ONNX Runtime and the models load only when a model is asked for, so that `deceptio --help`
    # and the audio checks start fast.
    if name in ("Detector", "Analysis", "WindowPrediction"):
        from deceptio.serving import detector

        return getattr(detector, name)
    if name == "VARIANTS":
        from deceptio.modeling.variants import VARIANTS

        return VARIANTS
    raise AttributeError(f"module 'deceptio' has no attribute {name!r}")
