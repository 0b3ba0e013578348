"""Weights from the Hub, offline: a pre-filled Hugging Face cache, HF_HUB_OFFLINE=1, sha256 checks, fallback."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, WEIGHTS
from deceptio.errors import ParameterError, WeightsError
from deceptio.serving.hub import (
    HubWeights,
    WeightsFallbackWarning,
    download_weights,
    is_hub_uri,
    parse_hub_uri,
    resolve_weights,
    verify_weights,
)
from deceptio.modeling.card import available_cards

REPO_ID = "deceptio-tests/weights"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def fill_cache(cache: Path, source: Path, *, repo_id: str = REPO_ID, commit: str = COMMIT,
               refs: dict[str, str] | None = None) -> Path:
    """Lay ``source``'s cards and weights out as huggingface_hub's cache does: blobs, a snapshot of links, refs."""
    storage = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = storage / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (storage / "blobs").mkdir()
    for path in sorted(source.glob("*.json")) + sorted(source.glob("*.onnx")):
        data = path.read_bytes()
        blob = storage / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        (snapshot / path.name).symlink_to(os.path.relpath(blob, snapshot))
    (storage / "refs").mkdir()
    for name, target in (refs or {"main": commit}).items():
        (storage / "refs" / name).write_text(target)
    return snapshot


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """huggingface_hub in offline mode with its cache in a temporary folder (as HF_HUB_OFFLINE=1 and HF_HUB_CACHE do)."""
    from huggingface_hub import constants

    cache = tmp_path / "hf" / "hub"
    cache.mkdir(parents=True)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return cache


def test_parse_hub_uri_requires_owner_repo_and_a_revision():
    ref = parse_hub_uri(f"hf://{REPO_ID}@{COMMIT}")
    assert ref == HubWeights(REPO_ID, COMMIT) and ref.is_commit and str(ref) == f"hf://{REPO_ID}@{COMMIT}"
    assert not parse_hub_uri("hf://someone/model@v1.2").is_commit
    assert is_hub_uri("hf://a/b@c") and not is_hub_uri("weights/") and not is_hub_uri(None)
    for bad, message in (
        ("hf://someone/model", "no revision"),
        ("hf://someone/model@", "no revision"),
        ("hf://model@main", "OWNER/REPO"),
        ("hf://a/b/c@main", "OWNER/REPO"),
        ("hf://some one/model@main", "OWNER/REPO"),
        ("hf://someone/model@ma in", "revision"),
        ("weights/", "not a Hub address"),
    ):
        with pytest.raises(ParameterError, match=message):
            parse_hub_uri(bad)


def test_verify_weights_accepts_the_shipped_weights_and_refuses_a_tampered_copy(tmp_path):
    names = verify_weights(WEIGHTS)
    assert set(names) == set(available_cards(WEIGHTS))
    copy = tmp_path / "weights"
    shutil.copytree(WEIGHTS, copy)
    victim = min(copy.glob("*.onnx"))
    data = bytearray(victim.read_bytes())
    data[-1] ^= 0x01
    victim.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="sha256"):
        verify_weights(copy)
    victim.unlink()
    with pytest.raises(WeightsError, match="missing"):
        verify_weights(copy)


def test_download_serves_a_pinned_commit_from_the_offline_cache(offline):
    snapshot = fill_cache(offline, WEIGHTS)
    folder = download_weights(f"hf://{REPO_ID}@{COMMIT}")
    assert folder.resolve() == snapshot.resolve()
    assert set(available_cards(folder)) == set(available_cards(WEIGHTS))


def test_a_tag_resolves_through_the_cache_refs(offline):
    snapshot = fill_cache(offline, WEIGHTS, refs={"main": COMMIT, "v1": COMMIT})
    assert download_weights(f"hf://{REPO_ID}@v1").resolve() == snapshot.resolve()


def test_tampered_cached_weights_raise_weights_error(offline):
    snapshot = fill_cache(offline, WEIGHTS)
    blob = next(snapshot.glob("*.onnx")).resolve()
    blob.write_bytes(blob.read_bytes()[:-16])  # truncated in the cache
    with pytest.raises(WeightsError, match="does not match the sha256"):
        download_weights(f"hf://{REPO_ID}@{COMMIT}")


def test_an_uncached_revision_offline_is_a_weights_error(offline):
    fill_cache(offline, WEIGHTS)
    other = "f" * 40
    with pytest.raises(WeightsError, match="not in the local Hugging Face cache"):
        download_weights(f"hf://{REPO_ID}@{other}")


def test_resolve_falls_back_to_local_weights_with_a_warning(offline, tmp_path):
    fallback = tmp_path / "local"
    with pytest.warns(WeightsFallbackWarning, match=r"could not use the Hub weights .*Using the local weights"):
        assert resolve_weights(f"hf://{REPO_ID}@{COMMIT}", fallback=fallback) == fallback
    assert resolve_weights("some/folder", fallback=fallback) == Path("some/folder")
    assert resolve_weights(None, fallback=fallback) == fallback
    with pytest.raises(ParameterError, match="no revision"):
        resolve_weights(f"hf://{REPO_ID}", fallback=fallback)  # a malformed address is an error, not a fallback


@pytest.mark.slow
def test_detector_runs_on_hub_weights_with_hf_hub_offline_in_the_environment(tmp_path):
    """The real path, in a fresh process: HF_HOME/HF_HUB_CACHE point at a pre-filled cache, HF_HUB_OFFLINE=1."""
    hf_home = tmp_path / "hf"
    snapshot = fill_cache(hf_home / "hub", WEIGHTS)
    code = (
        "import json, sys\n"
        "from deceptio import Detector\n"
        "from deceptio.serving.hub import resolve_weights\n"
        "folder = resolve_weights(sys.argv[1])\n"
        "detector = Detector(folder)\n"
        "analysis = detector.analyze(sys.argv[2], variant='prosody')\n"
        "print(json.dumps({'folder': str(folder), 'variants': detector.variants, 'p': analysis.p_deceptive}))\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(hf_home), "HF_HUB_CACHE": str(hf_home / "hub"),
           "HF_HUB_DISABLE_TELEMETRY": "1"}
    done = subprocess.run([sys.executable, "-c", code, f"hf://{REPO_ID}@{COMMIT}",
                           str(REPO / "assets" / "synthetic_statement_female.ogg")],
                          capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr
    assert "WeightsFallbackWarning" not in done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(result["folder"]).resolve() == snapshot.resolve()
    assert set(result["variants"]) == set(available_cards(WEIGHTS))
    assert 0.0 <= result["p"] <= 1.0
