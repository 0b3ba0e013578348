"""What a visitor takes away: the analysis as JSON (the CLI's, plus the card's figures) and the figures as PNG."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import REPO, WEIGHTS
from deceptio.serving.detector import Detector
from deceptio.serving.downloads import CARD_KEYS, DownloadFolder, analysis_document, write_downloads

EXAMPLE = REPO / "assets" / "synthetic_statement_female.ogg"


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector(WEIGHTS, variants=("prosody",))


def test_the_json_is_the_clis_plus_the_card(detector, tmp_path):
    analysis = detector.analyze(EXAMPLE, variant="prosody")
    paths = write_downloads(analysis, detector.card("prosody"), tmp_path, name=EXAMPLE.name,
                            config=detector.feature_config, window=detector.model_input("prosody").window)
    assert [p.name for p in paths] == [f"{EXAMPLE.stem}-prosody.json", f"{EXAMPLE.stem}-prosody-timeline.png",
                                       f"{EXAMPLE.stem}-prosody-features.png"]
    document = json.loads(paths[0].read_text())
    cli = subprocess.run([sys.executable, "-m", "deceptio.cli", "analyze", str(EXAMPLE), "--variant", "prosody",
                          "--weights", str(WEIGHTS), "--json"], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert cli.returncode == 0, cli.stderr
    assert {k: v for k, v in document.items() if k != "card"} == json.loads(cli.stdout)
    card = detector.card("prosody")
    assert set(document["card"]) == {key for key in CARD_KEYS if key in card}
    assert document["card"]["cv"] == card["cv"] and document["card"]["baselines"] == card["baselines"]
    for png in paths[1:]:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    assert analysis_document(analysis, {})["card"] == {}


def test_a_download_folder_keeps_sessions_apart_and_goes_away(tmp_path):
    folder = DownloadFolder(keep_s=3600)
    assert folder.root is None  # nothing on disk until something is written
    a, b = folder.session_dir("a/../x"), folder.session_dir("b")
    assert a.parent == b.parent == folder.root and ".." not in a.name
    (a / "f.json").write_text("{}")
    (b / "g.json").write_text("{}")
    folder.drop("a/../x")
    assert not a.exists() and (b / "g.json").exists()
    root = folder.root
    folder.close()
    assert not root.exists() and folder.root is None
    expired = DownloadFolder(keep_s=0)
    old = expired.session_dir("old")
    (old / "f.json").write_text("{}")
    import os
    os.utime(old, (0, 0))
    expired.session_dir("new")
    assert not old.exists()
    expired.close()
