"""A statement against the same speaker's own baseline: the difference of p(deceptive) and of plain features.

Voices differ far more between people than between one person's lies and
truths, so a statement is best read beside a recording the speaker says is
true. What such a difference has meant is the card's *within-speaker* AUC:
how often, for held-out speakers who both lied and told the truth, the model
scored the lie higher. It rests on few speakers, and the text says so.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from deceptio.features.profile import VoiceProfile
from deceptio.serving.detector import Analysis

__all__ = ["DIFFERENT_VOICES_ST", "Comparison", "FEATURE_LABELS", "compare_analyses", "within_speaker_line"]

DIFFERENT_VOICES_ST = 5.0  # median pitches further apart than this (semitones) are noted as two voices

# The plain features a person can check by ear, with their units, in display order.
FEATURE_LABELS: dict[str, tuple[str, str]] = {
    "median_f0_hz": ("median pitch", "Hz"),
    "f0_range_st": ("pitch range (10th–90th percentile)", "semitones"),
    "voiced_ratio": ("voiced share of speech", ""),
    "pause_ratio": ("pause share", ""),
    "alpha_ratio_db": ("spectral tilt (alpha ratio)", "dB"),
    "level_db": ("level", "dB"),
    "speech_s": ("speech", "s"),
}


@dataclass(frozen=True)
class Comparison:
    """A baseline recording and a statement, analysed by one variant."""

    variant: str
    baseline: Analysis
    statement: Analysis
    baseline_profile: VoiceProfile
    statement_profile: VoiceProfile
    within_speaker: dict  # the card's within-speaker AUC block: mean, std, ci95, n_pairs, n_speakers

    @property
    def delta_p(self) -> float:
        """p(deceptive) of the statement minus that of the baseline."""
        return self.statement.p_deceptive - self.baseline.p_deceptive

    def feature_deltas(self) -> dict[str, dict[str, float | None]]:
        """Each plain feature of both recordings and the statement's difference from the baseline."""
        out = {}
        for name in FEATURE_LABELS:
            a, b = getattr(self.baseline_profile, name), getattr(self.statement_profile, name)
            out[name] = {"baseline": _round(a), "statement": _round(b), "delta": _round(b - a)}
        return out

    def to_dict(self) -> dict:
        return {
            "variant": self.variant,
            "baseline": self.baseline.to_dict(),
            "statement": self.statement.to_dict(),
            "delta_p_deceptive": round(self.delta_p, 4),
            "features": self.feature_deltas(),
            "within_speaker_auc": self.within_speaker,
            "reading": within_speaker_line(self),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict())


def _round(value: float) -> float | None:
    return round(float(value), 3) if math.isfinite(value) else None


def compare_analyses(baseline: Analysis, statement: Analysis, baseline_profile: VoiceProfile,
                     statement_profile: VoiceProfile, card: dict) -> Comparison:
    """A :class:`Comparison` of two analyses by the same variant, with that variant's card."""
    if baseline.variant != statement.variant:
        raise ValueError(f"both recordings must be analysed by one variant, not {baseline.variant} and {statement.variant}")
    within = dict(((card.get("cv") or {}).get("auc_within_speaker")) or {})
    return Comparison(baseline.variant, baseline, statement, baseline_profile, statement_profile, within)


def within_speaker_line(comparison: Comparison) -> str:
    """One honest paragraph on what the difference of p(deceptive) can mean."""
    delta = comparison.delta_p
    direction = ("higher" if delta > 0 else "lower") if abs(delta) >= 0.005 else "about the same as"
    head = (f"The statement scores {abs(delta):.2f} {direction} than the baseline" if direction != "about the same as"
            else "The statement scores about the same as the baseline") + f" (p(deceptive) {comparison.statement.p_deceptive:.2f} "
    head += f"against {comparison.baseline.p_deceptive:.2f}, with {comparison.variant})."
    within = comparison.within_speaker
    mean = within.get("mean")
    if not isinstance(mean, (int, float)):
        return head + " The model's card has no within-speaker figure, so nothing says what such a difference means."
    ci = within.get("ci95")
    interval = ""
    if isinstance(ci, (list, tuple)) and len(ci) == 2:
        interval = f", 95 % interval {ci[0]:.2f}–{ci[1]:.2f}"
        if not ci[0] <= mean <= ci[1]:  # the mean over repeats against a bootstrap of the repeat-averaged score
            interval += " from resampling speakers, which does not even hold the mean: the figure is unstable"
    pairs, speakers = within.get("n_pairs"), within.get("n_speakers")
    basis = ""
    if pairs and speakers:
        basis = f" It rests on {pairs} lie–truth pairs from only {speakers} speakers, so it is a rough figure."
    elif pairs:
        basis = f" It rests on {pairs} lie–truth pairs from few speakers, so it is a rough figure."
    a, b = comparison.baseline_profile.median_f0_hz, comparison.statement_profile.median_f0_hz
    if math.isfinite(a) and math.isfinite(b) and abs(12 * math.log2(b / a)) > DIFFERENT_VOICES_ST:
        head += (f" The two sound like different voices (median pitch {a:.0f} and {b:.0f} Hz): a comparison "
                 "only means something for one speaker.")
    return (head + f" For held-out speakers who both lied and told the truth, this model scored the lie higher "
            f"{mean:.0%} of the time (within-speaker AUC {mean:.2f}{interval}; 50% is chance).{basis} "
            "A difference is weak evidence about one recording, never proof that a person lied.")
