"""The registry of model variants: which feature images each ResNet reads."""

from __future__ import annotations

from dataclasses import dataclass

from deceptio.errors import UnknownVariantError
from deceptio.modeling.images import IMAGE_NAMES

__all__ = ["ENSEMBLE", "MODEL_VARIANTS", "VARIANTS", "Variant", "get_variant", "register_variant"]

ENSEMBLE = "ensemble"


@dataclass(frozen=True)
class Variant:
    """One way of looking at a recording.

    Attributes
    ----------
    name : str
        Registry key, also the file stem under ``weights/``.
    images : tuple of str
        Feature images stacked top to bottom into the model's input
        (of :data:`deceptio.modeling.images.IMAGE_NAMES`); empty for the ensemble.
    description : str
        One line for people choosing a variant on the page.
    members : tuple of str
        For the ensemble: the variants whose calibrated probabilities it averages.
    title : str
        A short readable name for menus (the registry key is the code name).
    """

    name: str
    images: tuple[str, ...]
    description: str
    members: tuple[str, ...] = ()
    title: str = ""

    @property
    def is_ensemble(self) -> bool:
        return bool(self.members)



VARIANTS: dict[str, Variant] = {}


def register_variant(name: str, images: tuple[str, ...], description: str, members: tuple[str, ...] = (),
                     title: str = "") -> Variant:
    """Add a variant to :data:`VARIANTS` and return it."""
    unknown = [image for image in images if image not in IMAGE_NAMES]
    if unknown:
        raise UnknownVariantError(f"variant {name!r} uses unknown feature images {unknown}; known: {', '.join(IMAGE_NAMES)}")
    variant = Variant(name=name, images=tuple(images), description=description, members=tuple(members),
                      title=title or name)
    VARIANTS[name] = variant
    return variant


def get_variant(name: str) -> Variant:
    """Look a variant up by name; an unknown name lists the known ones."""
    try:
        return VARIANTS[name]
    except KeyError:
        raise UnknownVariantError(f"unknown variant {name!r}; known variants: {', '.join(VARIANTS)}") from None


register_variant("spec_mfcc", ("spectrogram", "mfcc"), "Log-mel spectrogram and MFCCs with deltas: the timbre and articulation of the voice.",
                 title="Timbre: spectrogram + MFCC")
register_variant("lsf_lpc", ("lsf", "lpc"), "Line spectral frequencies and LPC coefficients: the shape of the vocal tract (formants).",
                 title="Vocal tract: LSF + LPC")
register_variant(
    "spec_prosody",
    ("spectrogram", "f0", "contrast", "centroid"),
    "Spectrogram plus pitch, spectral contrast and brightness: timbre and melody together.",
    title="Timbre and melody: spectrogram + pitch",
)
register_variant("prosody", ("f0", "contrast", "centroid"), "Pitch contour, spectral contrast and brightness: the melody and tension of speech.",
                 title="Melody: pitch, contrast, brightness")

MODEL_VARIANTS: tuple[str, ...] = tuple(VARIANTS)

register_variant(
    ENSEMBLE,
    (),
    "The calibrated average of the four single models listed after it: " + ", ".join(MODEL_VARIANTS) + ".",
    members=MODEL_VARIANTS,
    title="Ensemble of the four models",
)
