"""Weights from the Hugging Face Hub: a pinned revision, downloaded into the HF cache, checked against its cards.

``hf://OWNER/REPO@REVISION`` names a model repository laid out like
``weights/``: ``<variant>.json`` cards beside the ``<variant>.onnx`` graphs
serving runs (and the safetensors they were exported from). The revision is
required (a commit hash pins the files for good; a tag or branch can move). Files land in the ordinary Hugging Face cache
(``HF_HOME`` / ``HF_HUB_CACHE``), so ``HF_HUB_OFFLINE=1`` serves them from
there. Every ONNX file's sha256 is checked against its card before a
:class:`~deceptio.serving.detector.Detector` sees the folder.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

from deceptio.errors import ParameterError, WeightsError
from deceptio.modeling.card import available_cards, checked_onnx_path, load_card
from deceptio.paths import DEFAULT_WEIGHTS

__all__ = [
    "HUB_SCHEME",
    "HubWeights",
    "WeightsFallbackWarning",
    "download_weights",
    "is_hub_uri",
    "parse_hub_uri",
    "resolve_weights",
    "verify_weights",
]

HUB_SCHEME = "hf://"
_REPO_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


class WeightsFallbackWarning(UserWarning):
    """The Hub weights could not be used; the local ``weights/`` folder is used instead."""


@dataclass(frozen=True)
class HubWeights:
    """A pinned model repository on the Hub."""

    repo_id: str  # "OWNER/REPO"
    revision: str  # commit hash (pinned for good), tag or branch

    @property
    def is_commit(self) -> bool:
        return bool(_COMMIT.fullmatch(self.revision))

    def __str__(self) -> str:
        return f"{HUB_SCHEME}{self.repo_id}@{self.revision}"


def is_hub_uri(value: object) -> bool:
    """Whether ``value`` is a string that starts with ``hf://``."""
    return isinstance(value, str) and value.startswith(HUB_SCHEME)


def parse_hub_uri(uri: str) -> HubWeights:
    """Parse ``hf://OWNER/REPO@REVISION``.

    Raises
    ------
    ParameterError
        If the scheme, the repository name or the revision is missing or malformed.

    Examples
    --------
    >>> parse_hub_uri("hf://someone/deceptio-weights@v1")
    HubWeights(repo_id='someone/deceptio-weights', revision='v1')
    """
    if not is_hub_uri(uri):
        raise ParameterError(f"weights={uri!r} is not a Hub address; use {HUB_SCHEME}OWNER/REPO@REVISION")
    body = uri[len(HUB_SCHEME):]
    repo_id, sep, revision = body.partition("@")
    if not sep or not revision.strip():
        raise ParameterError(
            f"{uri!r} has no revision: pin one, {HUB_SCHEME}{repo_id or 'OWNER/REPO'}@<commit hash or tag>, "
            "so that the weights cannot change under the page"
        )
    parts = repo_id.split("/")
    if len(parts) != 2 or not all(_REPO_PART.fullmatch(part) for part in parts):
        raise ParameterError(f"{uri!r}: the repository must be OWNER/REPO (letters, digits, '.', '_', '-')")
    if any(char.isspace() for char in revision) or ".." in revision:
        raise ParameterError(f"{uri!r}: revision {revision!r} is not a valid commit hash, tag or branch")
    return HubWeights(repo_id=repo_id, revision=revision)


def verify_weights(folder: Path, variants: tuple[str, ...] | None = None) -> list[str]:
    """Check every (or each named) card in ``folder`` and the sha256 of the ONNX graph it names (what serving runs).

    Returns
    -------
    list of str
        The variants whose cards were found, ensembles included.

    Raises
    ------
    WeightsError
        A card is missing or malformed, an ONNX file is missing, or its
        sha256 differs from the card's.
    """
    folder = Path(folder)
    names = list(variants) if variants else available_cards(folder)
    if not names:
        raise WeightsError(f"no model cards (<variant>.json) in {folder}")
    checked: list[str] = []
    queue = list(names)
    while queue:
        name = queue.pop(0)
        if name in checked:
            continue
        card = load_card(folder, name)
        checked.append(name)
        if card.get("members"):
            queue.extend(card["members"])
            continue
        checked_onnx_path(folder, card)
    return checked


def download_weights(
    uri: str | HubWeights,
    *,
    variants: tuple[str, ...] | None = None,
    cache_dir: str | Path | None = None,
    token: str | bool | None = None,
) -> Path:
    """Fetch a pinned revision's cards and ONNX graphs into the Hugging Face cache and check them.

    Parameters
    ----------
    uri : str or HubWeights
        ``hf://OWNER/REPO@REVISION``.
    variants : tuple of str, optional
        Only these variants (an ensemble brings its members); all by default.
    cache_dir : path, optional
        Instead of the standard cache (``HF_HUB_CACHE``).
    token : str or bool, optional
        For a private repository; by default the one ``huggingface_hub`` finds.

    Returns
    -------
    Path
        The snapshot folder, ready for ``Detector(path)``.

    Raises
    ------
    ParameterError
        Malformed address.
    WeightsError
        The revision cannot be fetched (nor found in the cache when offline),
        or a file does not match its card.
    """
    ref = uri if isinstance(uri, HubWeights) else parse_hub_uri(uri)
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError
    except ImportError:  # pragma: no cover - huggingface_hub is in requirements.txt
        raise WeightsError("loading weights from the Hub needs huggingface_hub: pip install huggingface_hub") from None
    failures: tuple[type[BaseException], ...] = (HfHubHTTPError, OSError, ValueError)
    try:  # the HTTP client huggingface_hub uses; its connection errors are not OSErrors
        import httpx2

        failures += (httpx2.HTTPError,)
    except ImportError:  # pragma: no cover
        pass

    patterns = ["*.json", "*.onnx"]  # what serving reads; the safetensors are for training
    try:
        folder = Path(snapshot_download(ref.repo_id, revision=ref.revision, cache_dir=cache_dir, token=token,
                                        allow_patterns=patterns))
    except LocalEntryNotFoundError:
        raise WeightsError(
            f"{ref} is not in the local Hugging Face cache and the Hub cannot be reached (offline?)"
        ) from None
    except failures as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise WeightsError(f"could not fetch {ref}: {first}") from None
    verify_weights(folder, variants)
    return folder


def resolve_weights(
    spec: str | Path | None,
    *,
    variants: tuple[str, ...] | None = None,
    fallback: Path = DEFAULT_WEIGHTS,
) -> Path:
    """A local weights folder for ``spec``: a path as given, or a Hub address downloaded and checked.

    When a Hub address cannot be used (unreachable, not cached offline, a
    file that fails its sha256), a :class:`WeightsFallbackWarning` says so
    and ``fallback`` (the shipped ``weights/``) is returned instead. A
    malformed address is an error, not a fallback.
    """
    if spec is None:
        return Path(fallback)
    if not is_hub_uri(str(spec)):
        return Path(spec)
    ref = parse_hub_uri(str(spec))
    try:
        return download_weights(ref, variants=variants)
    except WeightsError as error:
        warnings.warn(
            f"could not use the Hub weights {ref}: {error}. Using the local weights in {fallback} instead.",
            WeightsFallbackWarning,
            stacklevel=2,
        )
        return Path(fallback)
