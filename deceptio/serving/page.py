"""What the web page shows for one recording: verdict, probability, the card's honest figures, the plots.

``app.py`` only lays out the page and calls :func:`analyze_for_page`; every
word and figure the page shows about a result is made here, where it can be
tested without a browser.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from matplotlib.figure import Figure

from deceptio.serving import plots
from deceptio.serving.detector import Analysis, Detector
from deceptio.modeling.variants import get_variant

__all__ = [
    "CAVEAT",
    "PageResult",
    "analyze_for_page",
    "card_summary",
    "variant_choices",
    "variant_description",
    "verdict_summary",
]

CAVEAT = "This is weak evidence about a voice in one recording, never proof about whether a person lied."

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class PageResult:
    """Everything the page shows after one analysis."""

    analysis: Analysis
    verdict_markdown: str
    probabilities: dict[str, float]  # for gr.Label: class -> confidence, summing to 1
    card_markdown: str
    panels: tuple[str, ...]  # feature panels in the figure, top to bottom
    panels_markdown: str
    feature_figure: Figure
    timeline_figure: Figure


def variant_choices(detector: Detector) -> list[tuple[str, str]]:
    """``(label, name)`` pairs for a dropdown, the ensemble first."""
    return [(name, name) for name in detector.variants]


def variant_description(variant: str) -> str:
    """One line on what a variant reads."""
    spec = get_variant(variant)
    return f"**{spec.name}** — {spec.description}"


def _figure(block: dict | None, key: str = "mean") -> float:
    value = (block or {}).get(key)
    return float(value) if isinstance(value, (int, float)) else math.nan


def _pm(block: dict | None) -> str:
    mean, std = _figure(block), _figure(block, "std")
    if math.isnan(mean):
        return "—"
    return f"{mean:.2f} ± {std:.2f}" if not math.isnan(std) else f"{mean:.2f}"


def card_summary(card: dict) -> str:
    """The card's cross-validated figures beside its baselines, and one plain sentence on what they mean."""
    variant = card.get("variant", "?")
    cv = card.get("cv") or {}
    if "auc" not in cv:
        return (f"**{variant}** has no cross-validated figures in its model card, so nothing supports its verdicts. "
                + CAVEAT)
    baselines = card.get("baselines") or {}
    gender, majority = baselines.get("gender_pitch", {}), baselines.get("majority", {})
    protocol = card.get("protocol") or {}
    data = (card.get("training_data") or {})
    how = (f"speaker-grouped {protocol.get('folds', '?')}-fold cross-validation × {protocol.get('repeats', '?')} repeats"
           + (f" on {data['n_clips']} clips of {data['n_speakers']} speakers" if "n_clips" in data and "n_speakers" in data else ""))
    rows = [
        "| | ROC AUC (mean ± sd) | accuracy |",
        "| --- | --- | --- |",
        f"| **{variant}** | **{_pm(cv.get('auc'))}** | {_pm(cv.get('accuracy'))} |",
        f"| gender from pitch (baseline) | {_pm(gender.get('auc'))} | {_pm(gender.get('accuracy'))} |",
        f"| majority label (baseline) | {_pm(majority.get('auc'))} | {_pm(majority.get('accuracy'))} |",
    ]
    auc, spread = _figure(cv.get("auc")), _figure(cv.get("auc"), "std")
    pitch = _figure(gender.get("auc"))
    # A lead smaller than the spread over repeats (or than 0.05 AUC) is not a lead.
    needed = max(0.05, 0.0 if math.isnan(spread) else spread)
    if math.isnan(auc) or auc - 0.5 <= needed:
        meaning = "This model does not clearly beat chance: treat its verdict as close to a coin toss."
    elif not math.isnan(pitch) and auc - pitch <= needed:
        meaning = (f"It does a little better than chance but not clearly better than guessing from the speaker's "
                   f"pitch alone ({pitch:.2f}), which mostly stands for gender: what it picks up may be gender, "
                   "not deception.")
    else:
        bar = max(0.5, 0.0 if math.isnan(pitch) else pitch)
        meaning = (f"It beats chance and the pitch-only guess by {auc - bar:.2f} AUC on held-out speakers: "
                   "a small, real signal that is still wrong often.")
    return (f"**How good is {variant}?** Measured by {how}:\n\n" + "\n".join(rows)
            + f"\n\nAn AUC of 0.50 is chance. {meaning} {CAVEAT}\n\n" + limits_summary(card))


def limits_summary(card: dict) -> str:
    """The "what this model can and cannot tell" panel: one plain line per confound, from the card."""
    cv = card.get("cv") or {}
    if "auc" not in cv:
        return ""
    protocol = card.get("protocol") or {}
    dominant = protocol.get("dominant_speaker", "the speaker with the most clips")
    auc = _figure(cv.get("auc"))
    lines = [
        f"- **Overall:** it ranks a deceptive clip above a truthful one {auc:.0%} of the time "
        f"(ROC AUC {_pm(cv.get('auc'))}; 50 % is chance).",
    ]
    female_rest = _figure(cv.get("auc_female_without_dominant"))
    balanced = _figure(cv.get("gender_balanced_auc"))
    if not (math.isnan(female_rest) and math.isnan(balanced)):
        lines.append(
            f"- **Once gender and the dominant speaker are taken away:** AUC {_pm(cv.get('auc_female_without_dominant'))} "
            f"among women without {dominant}, {balanced:.2f} with both genders given the same share of lies."
        )
    channel = _figure((card.get("baselines") or {}).get("channel_only", {}).get("auc"))
    subset = _figure(cv.get("auc_channel_subset"))
    if not math.isnan(channel):
        verdict = "no better than" if math.isnan(subset) or subset - channel < 0.05 else "better than"
        lines.append(
            f"- **The room speaks too:** a model that hears only the lawyers and judges, never the subject, scores "
            f"AUC {channel:.2f} on the clips where they speak; this model scores {subset:.2f} there — {verdict} the room alone."
        )
    score_gender, label_gender = _figure(cv, "auc_score_gender"), _figure(cv, "auc_label_gender")
    if not math.isnan(score_gender):
        lines.append(
            f"- **Gender:** its score tells women from men with AUC {score_gender:.2f}; the truth labels themselves do "
            f"{label_gender:.2f} in this corpus."
        )
    return "### What this model can and cannot tell\n\n" + "\n".join(lines)


def verdict_summary(analysis: Analysis) -> str:
    """The verdict line and how it was reached."""
    members = ""
    if analysis.members:
        members = " Members: " + ", ".join(f"{name} {p:.2f}" for name, p in analysis.members.items()) + "."
    return (
        f"## Verdict: {analysis.verdict}\n\n"
        f"p(deceptive) = **{analysis.p_deceptive:.2f}** with **{analysis.variant}**; between "
        f"{0.5 - analysis.band:.2f} and {0.5 + analysis.band:.2f} the verdict is *inconclusive*.{members} "
        f"{analysis.duration_s:.1f} s recording, {analysis.speech_s:.1f} s of speech, {len(analysis.windows)} windows."
    )


def analyze_for_page(detector: Detector, source, variant: str, *, progress: Progress | None = None,
                     name: str | None = None) -> PageResult:
    """Analyse ``source`` with ``variant`` and build everything the page shows.

    Parameters
    ----------
    detector : Detector
        Loaded once per process.
    source : path, bytes or ``(rate, array)``
        What the audio component delivered.
    variant : str
        One of ``detector.variants``.
    progress : callable ``(fraction, description)``, optional
        Told where the work is.

    Raises
    ------
    DeceptioError
        For anything the person can fix (no, unreadable, silent, too short or
        too long audio; an unknown variant). The message is written for them.
    """
    report = progress or (lambda fraction, description: None)
    report(0.05, "reading the recording and computing features")
    analysis = detector.analyze(source, variant=variant, name=name)
    report(0.7, "drawing the features")
    config = detector.feature_config
    panels = plots.panels_for(variant, analysis.images)
    features = plots.feature_figure(analysis, variant=variant, config=config)
    report(0.9, "drawing the timeline")
    timeline = plots.timeline_figure(analysis, config=config)
    titles = " · ".join(plots.PANELS[key][0].split(" (")[0].split(",")[0] for key in panels)
    report(1.0, "done")
    return PageResult(
        analysis=analysis,
        verdict_markdown=verdict_summary(analysis),
        probabilities={"deceptive": analysis.p_deceptive, "truthful": 1.0 - analysis.p_deceptive},
        card_markdown=card_summary(detector.card(variant)),
        panels=panels,
        panels_markdown=(f"Panels on one time axis: {titles}. Grey spans are not speech: the model never read them. "
                         "Computed from the same arrays the model's input images were built from."),
        feature_figure=features,
        timeline_figure=timeline,
    )
