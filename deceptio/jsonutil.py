"""Strict JSON for reports and cards: NaN and infinity (undefined metrics) become null."""

from __future__ import annotations

import json
import math

__all__ = ["dumps"]


def _clean(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _clean(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(item) for item in value]
    return value


def dumps(value, *, indent: int | None = 1) -> str:
    """``json.dumps`` that other tools can parse: no NaN/Infinity tokens."""
    return json.dumps(_clean(value), indent=indent, allow_nan=False)
