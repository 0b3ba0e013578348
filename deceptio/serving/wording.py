"""Every sentence the page says about a model and a result, made from the model's card.

The rule these functions keep: a model is never called better than a baseline
it scores below in its own folds, and a model that does not clearly beat every
baseline gives a *lean*, not a verdict. They are plain functions of the card
(a dict) and the analysis, so tests can feed them shipped and hand-made cards.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from deceptio.features.profile import VoiceProfile
from deceptio.modeling.card import ModelInput
from deceptio.modeling.variants import get_variant
from deceptio.serving.detector import Analysis

__all__ = [
    "BASELINE_NAMES",
    "CAVEAT",
    "Standing",
    "card_summary",
    "headline",
    "limits_summary",
    "recording_notes",
    "standing",
    "training_line",
    "variant_description",
    "verdict_summary",
]

CAVEAT = "This is weak evidence about a voice in one recording, never proof about whether a person lied."

# Baselines scored on every clip, in the same folds as the model, and how to say them in a sentence.
# (channel_only and mfcc_logreg_channel_subset are scored on a subset and are read in the limits panel.)
BASELINE_NAMES: dict[str, str] = {
    "gender_pitch": "guessing gender from pitch",
    "mfcc_logreg": "a logistic regression on averaged MFCCs",
    "majority": "always answering the more common label",
    "notebook_recipe": "the original student notebook's recipe",
}
_TABLE_BASELINES = ("gender_pitch", "mfcc_logreg", "majority")
_MIN_LEAD = 0.05  # an AUC lead smaller than this (or than the spread over repeats) is not a lead


def _figure(block: dict | None, key: str = "mean") -> float:
    value = (block or {}).get(key)
    return float(value) if isinstance(value, (int, float)) else math.nan


def _pm(block: dict | None) -> str:
    mean, std = _figure(block), _figure(block, "std")
    if math.isnan(mean):
        return "—"
    return f"{mean:.2f} ± {std:.2f}" if not math.isnan(std) else f"{mean:.2f}"


def _interval(block: dict | None) -> str:
    ci = (block or {}).get("ci95")
    if not (isinstance(ci, (list, tuple)) and len(ci) == 2 and all(isinstance(v, (int, float)) for v in ci)):
        return "—"
    return f"{ci[0]:.2f}–{ci[1]:.2f}"


@dataclass(frozen=True)
class Standing:
    """Where a model's cross-validated AUC stands against chance and its baselines.

    ``kind`` is ``"no figures"``, ``"below baseline"`` (its mean AUC is below a
    baseline's: ``beaten_by`` names them, strongest first), ``"chance"`` (not
    clearly above 0.5), ``"tied"`` (above every baseline, but by less than the
    lead it needs) or ``"ahead"``.
    """

    kind: str
    auc: float = math.nan
    needed: float = _MIN_LEAD
    beaten_by: tuple[tuple[str, float], ...] = ()  # (baseline key, its AUC), strongest first
    best_baseline: tuple[str, float] | None = None

    @property
    def gives_verdict(self) -> bool:
        return self.kind == "ahead"


def standing(card: dict) -> Standing:
    """The :class:`Standing` of the model a card describes."""
    cv = card.get("cv") or {}
    auc = _figure(cv.get("auc"))
    if math.isnan(auc):
        return Standing("no figures")
    spread = _figure(cv.get("auc"), "std")
    needed = max(_MIN_LEAD, 0.0 if math.isnan(spread) else spread)
    baselines = card.get("baselines") or {}
    scored = sorted(((name, _figure(baselines.get(name, {}).get("auc"))) for name in BASELINE_NAMES),
                    key=lambda item: -item[1] if not math.isnan(item[1]) else math.inf)
    scored = [(name, value) for name, value in scored if not math.isnan(value)]
    best = scored[0] if scored else None
    beaten_by = tuple((name, value) for name, value in scored if value > auc)
    if beaten_by:
        kind = "below baseline"
    elif auc - 0.5 <= needed:
        kind = "chance"
    elif best is not None and auc - best[1] <= needed:
        kind = "tied"
    else:
        kind = "ahead"
    return Standing(kind, auc=auc, needed=needed, beaten_by=beaten_by, best_baseline=best)


def _beaten_by_text(s: Standing) -> str:
    names = [f"{BASELINE_NAMES[name]} ({value:.2f})" for name, value in s.beaten_by]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def standing_sentence(s: Standing) -> str:
    """One plain sentence on what the model's AUC means; never "better" than a baseline it is below."""
    if s.kind == "no figures":
        return "It has no cross-validated figures, so nothing supports its verdicts."
    if s.kind == "below baseline":
        return (f"It does worse than {_beaten_by_text(s)} on the same held-out speakers: "
                "what it picks up may be the speaker's gender or voice, not deception.")
    if s.kind == "chance":
        return "It does not clearly beat chance: treat its lean as close to a coin toss."
    name, value = s.best_baseline
    if s.kind == "tied":
        return (f"It scores about as well as {BASELINE_NAMES[name]} ({value:.2f}), not clearly more: "
                "what it picks up may be gender, not deception.")
    return (f"It beats chance and every baseline, the strongest being {BASELINE_NAMES[name]}, by {s.auc - value:.2f} AUC "
            "on held-out speakers: a small, real signal that is still wrong often.")


def variant_description(variant: str) -> str:
    """One line on what a variant reads."""
    spec = get_variant(variant)
    return f"**{spec.title}** (`{spec.name}`) — {spec.description}"


def training_line(card: dict) -> str:
    """What the model learnt from, in one line (material, size, speakers, language)."""
    data = card.get("training_data") or {}
    if "n_clips" not in data:
        return "**Learnt from:** the card does not say."
    what = data.get("material", "recordings")
    speakers = f", {data['n_speakers']} speakers" if "n_speakers" in data else ""
    language = f", {data['language']}" if "language" in data else ""
    name = f" Corpus: {data['name']}." if data.get("name") else ""
    return (f"**Learnt from:** {data['n_clips']} clips of {what}{speakers}{language}, the subject's own speech only; "
            f"it has heard nothing else.{name}")


def card_summary(card: dict) -> str:
    """The card's cross-validated figures beside its baselines, with their intervals, and what they mean."""
    variant = card.get("variant", "?")
    cv = card.get("cv") or {}
    s = standing(card)
    if s.kind == "no figures":
        return f"**{variant}** has no cross-validated figures in its model card, so nothing supports its verdicts. " + CAVEAT
    baselines = card.get("baselines") or {}
    protocol = card.get("protocol") or {}
    data = card.get("training_data") or {}
    nested = str(protocol.get("selection", "")).startswith("nested")
    how = (("nested " if nested else "")
           + f"speaker-grouped {protocol.get('folds', '?')}-fold cross-validation × {protocol.get('repeats', '?')} repeats"
           + (f" on {data['n_clips']} clips of {data['n_speakers']} speakers" if "n_clips" in data and "n_speakers" in data else ""))
    if nested:
        how += ", an inner CV on the training speakers picking the configuration in each fold (the figures include that choice)"
        if protocol.get("configuration") and "input" in card:  # one variant's card: the window it reads is its input's
            inputs = ModelInput.from_card(card)
            hop_s = inputs.features.hop_length / inputs.features.sample_rate
            if inputs.window.whole:
                how += (f"; this model reads the whole recording at once, its time weighted by attention (trained on "
                        f"{inputs.window.window_frames * hop_s:g} s crops), what the same inner CV picked on all clips")
            else:
                train = card.get("train_config") or {}
                how += (f"; this model reads {inputs.window.window_frames * hop_s:g} s windows, hop "
                        f"{inputs.window.hop_frames * hop_s:g} s"
                        + (", trained against gender and speaker adversaries" if train.get("adversary") else "")
                        + (", its network first trained on EmoDB arousal (acted German speech)" if train.get("pretrain_epochs") else "")
                        + ", what the same inner CV picked on all clips")
    rows = [
        "| | ROC AUC | 95 % interval | accuracy |",
        "| --- | --- | --- | --- |",
        f"| **{variant}** | **{_pm(cv.get('auc'))}** | {_interval(cv.get('auc'))} | {_pm(cv.get('accuracy'))} |",
    ]
    for name in _TABLE_BASELINES:
        if name in baselines:
            row = baselines[name]
            rows.append(f"| {BASELINE_NAMES[name]} (baseline) | {_pm(row.get('auc'))} | {_interval(row.get('auc'))} "
                        f"| {_pm(row.get('accuracy'))} |")
    return (f"{training_line(card)}\n\n**How good is {variant}?** Measured by {how}:\n\n" + "\n".join(rows)
            + "\n\nAn AUC of 0.50 is chance. ± is the spread over the repeats of the folds; the 95 % interval "
            "resamples speakers and is what to expect on new people. "
            f"{standing_sentence(s)} {CAVEAT}\n\n" + limits_summary(card))


def limits_summary(card: dict) -> str:
    """The "what this model can and cannot tell" panel: one plain sentence per confound, from the card."""
    cv = card.get("cv") or {}
    if "auc" not in cv:
        return ""
    protocol = card.get("protocol") or {}
    data = card.get("training_data") or {}
    dominant = protocol.get("dominant_speaker", data.get("dominant_speaker", "?"))
    n_dominant = data.get("n_dominant")
    who = f"the one speaker with {n_dominant} clips ({dominant})" if n_dominant else f"the speaker with the most clips ({dominant})"
    auc = _figure(cv.get("auc"))
    lines = [
        (f"- **Overall:** given one deceptive and one truthful clip from people it never heard, it puts the deceptive "
        f"one higher {auc:.0%} of the time (50% is a coin toss)."),
    ]
    female_rest = _figure(cv.get("auc_female_without_dominant"))
    balanced = _figure(cv.get("gender_balanced_auc"))
    if not math.isnan(female_rest):
        lines.append(f"- **Among women, leaving out {who}:** {female_rest:.0%}.")
    if not math.isnan(balanced):
        lines.append(f"- **With lies shared equally between women and men,** so that gender gives nothing away: {balanced:.0%}.")
    within = _figure(cv.get("auc_within_speaker"))
    if not math.isnan(within):
        block = cv.get("auc_within_speaker") or {}
        pairs, speakers = block.get("n_pairs"), block.get("n_speakers")
        basis = (f" ({pairs} such pairs, from only {speakers} speakers)." if pairs and speakers
                 else f" ({pairs} such pairs, from few speakers)." if pairs else ".")
        lines.append(f"- **The same person lying and telling the truth:** it ranks the lie higher {within:.0%} of the time"
                     + basis)
    channel = _figure((card.get("baselines") or {}).get("channel_only", {}).get("auc"))
    subset = _figure(cv.get("auc_channel_subset"))
    if not math.isnan(channel):
        beats = not math.isnan(subset) and subset - channel >= _MIN_LEAD
        lines.append(
            f"- **The room speaks too:** a model that hears only the lawyers and judges, never the person, gets {channel:.0%} "
            f"on the clips where they speak; this model gets {subset:.0%} there, so it "
            + ("does beat the room alone." if beats else "does not beat the room alone.")
        )
    score_gender, label_gender = _figure(cv, "auc_score_gender"), _figure(cv, "auc_label_gender")
    if not math.isnan(score_gender):
        more = score_gender > label_gender
        lines.append(
            f"- **Gender:** in this corpus women lied more often than men, so the truth labels alone tell women from men "
            f"{label_gender:.0%} of the time; this model's score does it {score_gender:.0%} of the time"
            + (", more than the labels: it has probably learnt gender." if more else ".")
        )
    return "### What this model can and cannot tell\n\n" + "\n".join(lines)


def recording_notes(analysis: Analysis, profile: VoiceProfile | None, card: dict) -> list[str]:
    """Plain notes on how this recording differs from the model's training clips (empty when it does not)."""
    ranges = ((card.get("training_data") or {}).get("profile")) or {}
    notes = []
    speech = ranges.get("speech_s")
    if speech and analysis.speech_s < speech["low"]:
        notes.append(f"Only {analysis.speech_s:.1f} s of speech, less than 97.5 % of the training clips had: the result "
                     f"rests on {len(analysis.windows)} window(s).")
    elif speech and analysis.speech_s > 2 * speech["high"]:
        notes.append(f"{analysis.speech_s:.0f} s of speech, much longer than the training clips (95 % had "
                     f"{speech['low']:.0f}–{speech['high']:.0f} s): the result averages {len(analysis.windows)} windows, "
                     "each judged on its own.")
    f0 = ranges.get("median_f0_hz")
    if f0 and profile is not None and math.isfinite(profile.median_f0_hz) and not f0["low"] <= profile.median_f0_hz <= f0["high"]:
        notes.append(f"The median pitch, {profile.median_f0_hz:.0f} Hz, is outside the range of 95 % of the training "
                     f"clips ({f0['low']:.0f}–{f0['high']:.0f} Hz).")
    level = ranges.get("level_db")
    if level and profile is not None and math.isfinite(profile.level_db) and not level["low"] - 6 <= profile.level_db <= level["high"] + 6:
        notes.append(f"The speech level, {profile.level_db:.0f} dB below full scale, is far from the training clips' "
                     f"({level['low']:.0f} to {level['high']:.0f} dB): a much quieter or louder recording.")
    return notes


def verdict_summary(analysis: Analysis, card: dict | None = None, profile: VoiceProfile | None = None) -> str:
    """The headline and how it was reached: a verdict only from a model that beats its baselines, else its lean."""
    s = standing(card or {})
    members = ""
    if analysis.members:
        members = " Members: " + ", ".join(f"{name} {p:.2f}" for name, p in analysis.members.items()) + "."
    how = (f"p(deceptive) = **{analysis.p_deceptive:.2f}** with **{analysis.variant}**; between "
           f"{0.5 - analysis.band:.2f} and {0.5 + analysis.band:.2f} the result is *inconclusive*.{members} "
           f"{analysis.duration_s:.1f} s recording, {analysis.speech_s:.1f} s of speech, {len(analysis.windows)} windows.")
    if s.gives_verdict:
        head = f"## Verdict: {analysis.verdict}\n\n{how}"
    else:
        lean = {"deceptive": "towards deceptive", "truthful": "towards truthful"}.get(analysis.verdict, "neither way")
        head = (f"## Lean: {analysis.verdict} — not a verdict\n\n"
                f"**This model leans {lean}, but {_why_no_verdict(s)}** {how}")
    notes = recording_notes(analysis, profile, card or {})
    if notes:
        head += "\n\n> **Unlike the training data:** " + " ".join(notes)
    return head


def headline(analysis: Analysis, card: dict) -> str:
    """The one-line result of the command line: ``VERDICT: DECEPTIVE``, or ``lean: deceptive (not a verdict: …)``."""
    s = standing(card)
    if s.gives_verdict:
        return f"VERDICT: {analysis.verdict.upper()}"
    return f"lean: {analysis.verdict} (not a verdict: {_why_no_verdict(s).removesuffix(', so this is no verdict.')})"


def _why_no_verdict(s: Standing) -> str:
    if s.kind == "below baseline":
        return f"it does worse (AUC {s.auc:.2f}) than {_beaten_by_text(s)}, so this is no verdict."
    if s.kind == "chance":
        return f"it does not clearly beat chance (AUC {s.auc:.2f}), so this is no verdict."
    if s.kind == "tied":
        name, value = s.best_baseline
        return f"it is not clearly ahead of {BASELINE_NAMES[name]} ({value:.2f} against its {s.auc:.2f}), so this is no verdict."
    return "its card has no cross-validated figures, so this is no verdict."
