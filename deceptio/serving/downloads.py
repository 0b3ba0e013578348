"""What a visitor can take away from the page: the analysis as JSON and the figures as PNG.

The JSON is what ``deceptio analyze --json`` prints, plus the model card's
figures (cross-validated metrics, baselines, protocol, training data), so a
downloaded result carries its own caveats. Files live in one folder per
server, a sub-folder per visitor session; a session's files go when it ends
and the whole folder when the server stops.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import threading
import time
from pathlib import Path

from deceptio.features import FeatureConfig
from deceptio.modeling.images import WindowConfig
from deceptio.serving import plots
from deceptio.serving.detector import Analysis

__all__ = ["CARD_KEYS", "DownloadFolder", "analysis_document", "write_downloads"]

CARD_KEYS = ("variant", "description", "training_data", "cv", "baselines", "protocol", "calibration")


def analysis_document(analysis: Analysis, card: dict) -> dict:
    """``deceptio analyze --json``'s content (:meth:`Analysis.to_dict`) with the card's figures under ``"card"``."""
    return {**analysis.to_dict(), "card": {key: card[key] for key in CARD_KEYS if key in card}}


class DownloadFolder:
    """A temporary folder for the page's downloads, one sub-folder per session, made on first use, removed by :meth:`close`."""

    def __init__(self, *, keep_s: float = 3600.0) -> None:
        self.keep_s = keep_s
        self.root: Path | None = None
        self._lock = threading.Lock()

    @staticmethod
    def _safe(session: str) -> str:
        return re.sub(r"[^A-Za-z0-9_-]", "_", session or "anonymous")[:64]

    def session_dir(self, session: str) -> Path:
        """This session's folder (created if needed); other sessions' folders older than ``keep_s`` are removed."""
        with self._lock:
            if self.root is None:
                self.root = Path(tempfile.mkdtemp(prefix="deceptio-downloads-"))
            cutoff = time.time() - self.keep_s
            for folder in self.root.iterdir():
                if folder.stat().st_mtime < cutoff:
                    shutil.rmtree(folder, ignore_errors=True)
            folder = self.root / self._safe(session)
            folder.mkdir(exist_ok=True)
            return folder

    def drop(self, session: str) -> None:
        """Delete a session's files (when its visitor leaves)."""
        with self._lock:
            if self.root is not None:
                shutil.rmtree(self.root / self._safe(session), ignore_errors=True)

    def close(self) -> None:
        with self._lock:
            if self.root is not None:
                shutil.rmtree(self.root, ignore_errors=True)
                self.root = None


def _stem(name: str | None) -> str:
    stem = Path(name or "recording").stem
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", stem)[:60] or "recording"


def write_downloads(analysis: Analysis, card: dict, folder: Path, *, name: str | None = None,
                    config: FeatureConfig = FeatureConfig(), window: WindowConfig | None = None) -> list[Path]:
    """Write ``<stem>-<variant>.json``, ``…-timeline.png`` and ``…-features.png`` into ``folder``; returns the paths."""
    stem = f"{_stem(name)}-{analysis.variant}"
    document = folder / f"{stem}.json"
    document.write_text(json.dumps(analysis_document(analysis, card), indent=1), encoding="utf-8")
    written = [document]
    for label, figure in (("timeline", plots.timeline_figure(analysis, config=config, window=window)),
                          ("features", plots.feature_figure(analysis, variant=analysis.variant, config=config))):
        path = folder / f"{stem}-{label}.png"
        figure.savefig(path, dpi=110)
        written.append(path)
    return written
