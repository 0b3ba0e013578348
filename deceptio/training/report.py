"""A cross-validation report: every method's metrics with their spread and confounds, as JSON, markdown and figures."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deceptio import jsonutil
from deceptio.errors import ParameterError
from deceptio.features import FeatureConfig
from deceptio.training.baselines import BASELINES, CHANNEL_MIN_S, baseline_inputs, baseline_oof
from deceptio.training.data import ClipFeatures
from deceptio.training.metrics import (
    accuracy,
    balanced_accuracy,
    expected_calibration_error,
    gender_balanced_auc,
    roc_auc,
    speaker_bootstrap_ci,
    summarize,
    within_speaker_auc,
)
from deceptio.training.report_plots import save_report_figures

__all__ = ["SALIENCY_CAPTION", "clip_labels", "finish_report", "format_report", "save_report"]

SALIENCY_CAPTION = "Class activation maps of the shipped spec_prosody on a few training clips (red raised p(deceptive), blue lowered it)."


@dataclass(frozen=True)
class _Cohort:
    """The clips' labels and the groupings the confound metrics need."""

    labels: np.ndarray
    speakers: np.ndarray
    genders: np.ndarray
    channel: np.ndarray  # clips with enough of other speakers for the channel-only baseline

    @property
    def female(self) -> np.ndarray:
        return self.genders == "F"

    @property
    def dominant(self) -> str:
        """The speaker with the most clips."""
        names, counts = np.unique(self.speakers, return_counts=True)
        return str(names[np.argmax(counts)])


def _repeat_metrics(c: _Cohort, p: np.ndarray, keep: np.ndarray) -> dict[str, float]:
    labels, female, genders = c.labels[keep], c.female[keep], c.genders[keep]
    p = p[keep]
    known = np.isin(genders, ("F", "M"))
    female_rest = female & (c.speakers[keep] != c.dominant)
    return {
        "auc": roc_auc(labels, p),
        "auc_female": roc_auc(labels[female], p[female]),
        "auc_female_without_dominant": roc_auc(labels[female_rest], p[female_rest]),
        "gender_balanced_auc": gender_balanced_auc(labels, p, genders),
        "auc_within_speaker": within_speaker_auc(labels, p, c.speakers[keep], n_resamples=1)["value"],
        "auc_score_gender": roc_auc(female[known], p[known]),
        "auc_channel_subset": roc_auc(labels[c.channel[keep]], p[c.channel[keep]]),
        "accuracy": accuracy(labels, p),
        "balanced_accuracy": balanced_accuracy(labels, p),
        "ece": expected_calibration_error(labels, p),
    }


def _metrics(c: _Cohort, p_by_repeat: list[np.ndarray]) -> dict:
    """Metrics per repeat summarised as mean ± sd, with 95 % CIs resampling speakers.

    Clips a method does not score (NaN, outside its subset) are left out of
    its metrics.
    """
    keep = np.isfinite(p_by_repeat[0])
    per_repeat = [_repeat_metrics(c, p, keep) for p in p_by_repeat]
    out = {name: summarize([r[name] for r in per_repeat]) for name in per_repeat[0]}
    # CIs resample speakers over the repeat-averaged out-of-fold probability of each clip.
    mean_p = np.mean(p_by_repeat, axis=0)[keep]
    labels, speakers, female = c.labels[keep], c.speakers[keep], c.female[keep]
    for name, fn, subset in (
        ("auc", roc_auc, slice(None)),
        ("auc_female", roc_auc, female),
        ("auc_female_without_dominant", roc_auc, female & (speakers != c.dominant)),
        ("accuracy", accuracy, slice(None)),
        ("balanced_accuracy", balanced_accuracy, slice(None)),
    ):
        out[name]["ci95"] = list(speaker_bootstrap_ci(fn, labels[subset], mean_p[subset], speakers[subset]))
    within = within_speaker_auc(labels, mean_p, speakers)
    out["auc_within_speaker"].update(ci95=within["ci95"], n_pairs=within["n_pairs"], n_speakers=within["n_speakers"])
    out["n_clips"] = int(keep.sum())
    return out


def clip_labels(data: list[ClipFeatures]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    labels = np.array([item.clip.label for item in data])
    if len(np.unique(labels)) < 2:
        raise ParameterError("the data holds only one label: nothing to evaluate")
    return labels, np.array([item.clip.speaker for item in data]), np.array([item.clip.gender for item in data])


def finish_report(
    data: list[ClipFeatures],
    methods: dict[str, dict],
    probabilities: dict[str, list[np.ndarray]],
    folds: list[np.ndarray],
    protocol: dict,
    feature_config: FeatureConfig,
    logits: dict[str, list[np.ndarray]] | None = None,
) -> dict:
    """Add the baselines in the same folds, compute every method's metrics, assemble the report.

    ``logits``, each variant's raw out-of-fold logits per repeat (before calibration), go into the
    report beside the probabilities, so that another calibration can be measured in the same folds
    (``benchmarks/calibration_methods.py``).
    """
    labels, speakers, genders = clip_labels(data)
    female = genders == "F"
    min_other = int(round(CHANNEL_MIN_S * feature_config.sample_rate / feature_config.hop_length))
    inputs = baseline_inputs(data, min_other)
    for name, description in BASELINES.items():
        probabilities[name] = [baseline_oof(name, inputs, labels, fold_of) for fold_of in folds]
        if not np.isfinite(probabilities[name][0]).any():  # e.g. no clip has other speakers' turns
            del probabilities[name]
            continue
        methods[name] = {"kind": "baseline", "description": description}
        if name in ("channel_only", "mfcc_logreg_channel_subset"):
            methods[name]["subset"] = f"clips with >= {CHANNEL_MIN_S:g} s of other speakers"
    cohort = _Cohort(labels, speakers, genders, channel=np.isfinite(inputs["channel_only"]).all(axis=1))
    for name, method in methods.items():
        method["metrics"] = _metrics(cohort, probabilities[name])
    known = np.isin(genders, ("F", "M"))
    return {
        "protocol": protocol,
        "data": {
            "n_clips": int(len(labels)),
            "n_speakers": int(len(np.unique(speakers))),
            "n_deceptive": int(labels.sum()),
            "n_female": int(female.sum()),
            "n_female_deceptive": int(labels[female].sum()),
            "dominant_speaker": cohort.dominant,
            "n_dominant": int((speakers == cohort.dominant).sum()),
            "n_female_without_dominant": int((female & (speakers != cohort.dominant)).sum()),
            "n_channel_subset": int(cohort.channel.sum()),
            "auc_label_gender": roc_auc(female[known], labels[known]),
            "subject_speech_s": round(float(sum(item.subject_frames.size for item in data)) * feature_config.hop_length / feature_config.sample_rate, 1),
        },
        "methods": methods,
        "out_of_fold": {
            "clip_ids": [item.clip.id for item in data],
            "labels": labels.tolist(),
            "speakers": speakers.tolist(),
            "genders": genders.tolist(),
            "probabilities": {name: [np.round(p, 6).tolist() for p in ps] for name, ps in probabilities.items()},
            **({"logits": {name: [np.round(z, 6).tolist() for z in zs] for name, zs in logits.items()}} if logits else {}),
        },
    }


def _fmt(metric: dict, ci: bool = True) -> str:
    text = f"{metric['mean']:.3f} ± {metric['std']:.3f}"
    if ci and "ci95" in metric and np.isfinite(metric["ci95"][0]):
        text += f" [{metric['ci95'][0]:.2f}, {metric['ci95'][1]:.2f}]"
    return text


def _kind(method: dict, repeats: int | None = None) -> str:
    notes = [f"{method['metrics']['n_clips']} clips"] if method.get("subset") else []
    if repeats is not None and method.get("repeats", repeats) < repeats:  # a slow recipe run over the first repeats only
        notes.append(f"{method['repeats']} repeat{'s' if method['repeats'] > 1 else ''}")
    return method["kind"] + (f" ({', '.join(notes)})" if notes else "")


def _table(methods: dict[str, dict], columns: tuple[str, ...], cells) -> list[str]:
    """Markdown rows: one per method, ``cells(method, metrics)`` giving the columns after its name."""
    rows = ["| method | " + " | ".join(columns) + " |", "|" + " --- |" * (len(columns) + 1)]
    rows += [f"| {name} | " + " | ".join(cells(method, method["metrics"])) + " |" for name, method in methods.items()]
    return rows


def format_report(report: dict) -> str:
    """The report as two markdown tables: the figures, then how much of them survives the confounds."""
    protocol, data = report["protocol"], report["data"]
    methods = report["methods"]
    how = (
        f"Trained weights from {protocol['weights']} scored as shipped (not retrained); baselines cross-validated "
        f"in speaker-grouped {protocol['folds']}-fold CV × {protocol['repeats']} repeats on this data; "
        if "weights" in protocol
        else f"Speaker-grouped {protocol['folds']}-fold CV × {protocol['repeats']} repeats (seeds {protocol['seeds']}); "
    )
    lines = [
        how +
        f"{data['n_clips']} clips, {data['n_speakers']} speakers, {data['n_deceptive']} deceptive; "
        f"{data['n_female']} female clips ({data['n_female_deceptive']} deceptive). Every row uses the same folds. "
        f"Configurations tried: {protocol['configurations_tried']} ({protocol.get('selection', 'fixed in advance')}).",
        "",
    ]
    if "grid" in protocol:  # a nested run: the grid fixed in advance, and how often each configuration was picked
        picked = {name: method["picked"] for name, method in methods.items() if "picked" in method}
        lines += ["Grid (fixed in advance; picked per outer fold by the inner CV): " + "; ".join(
            f"`{key}` {row['description']}" for key, row in protocol["grid"].items()), ""]
        shipped = protocol.get("shipped", {})
        ship = lambda name: ([shipped[name]["configuration"]] if name in shipped else [])
        head = list(protocol["grid"]) + (["shipped (inner CV on all clips)"] if shipped else [])
        lines += ["| variant | " + " | ".join(head) + " |", "|" + " --- |" * (len(head) + 1)]
        lines += [f"| {name} | " + " | ".join([str(counts.get(key, 0)) for key in protocol["grid"]] + ship(name)) + " |"
                  for name, counts in picked.items()]
        if shipped:
            lines += ["", "What a release ships: the configuration the same inner procedure picks on all clips "
                      "(a speaker-grouped inner CV; its gender-balanced AUC per configuration): " + "; ".join(
                          f"{name} " + ", ".join(f"{key} {value:.3f}" for key, value in row["inner_gender_balanced_auc"].items())
                          for name, row in shipped.items() if "inner_gender_balanced_auc" in row) + "."]
            if any("inner_score_gender_auc" in row for row in shipped.values()):
                lines += ["", "In the same inner CV, the AUC of each configuration's scores for the subject's gender (an "
                          "adversary should lower it; the label itself reaches the value in the confound table): " + "; ".join(
                              f"{name} " + ", ".join(f"{key} {value:.3f}" for key, value in row["inner_score_gender_auc"].items())
                              for name, row in shipped.items() if "inner_score_gender_auc" in row) + "."]
        related = {name: method["arousal_auc"] for name, method in methods.items() if "arousal_auc" in method}
        if related:
            lines += ["", "The related task, EmoDB arousal (high against low in acted German speech; speaker-grouped "
                      "CV, 5 folds, speakers held out), learnt by the networks that pretrain on it: ROC AUC " + "; ".join(
                          f"{name} " + ", ".join(f"{key} {value:.3f}" for key, value in row.items())
                          for name, row in related.items()) + ". Deception with and without it, in the same folds: the inner CV on all clips above "
                      "(each pretraining configuration against the same one without)."]
        fits = protocol.get("fits", {})
        lines += ["", f"Fits: {fits.get('done', 0)} trained by this run, {fits.get('cached', 0)} read from the fold cache "
                      f"(trained by earlier, resumed runs); this run spent {fits.get('wall_s', 0):.0f} s of wall time on them.", ""]
    lines += _table(methods, ("kind", "ROC AUC", "AUC (female)", "accuracy", "balanced acc.", "ECE"), lambda method, m: (
        _kind(method, protocol["repeats"]), _fmt(m["auc"]), _fmt(m["auc_female"]), _fmt(m["accuracy"]), _fmt(m["balanced_accuracy"]),
        f"{m['ece']['mean']:.3f}"))
    lines += [
        "",
        f"What survives the confounds: AUC among women without the dominant speaker {data['dominant_speaker']} "
        f"({data['n_female_without_dominant']} clips); within-speaker AUC over the (deceptive, truthful) pairs of "
        f"speakers who have both; AUC with clips weighted so both genders have the same deceptive share; the AUC "
        f"of the score for predicting the subject's gender (the label itself predicts it with AUC "
        f"{data['auc_label_gender']:.3f}: a score above that is more a gender detector than the label); and the AUC "
        f"on the {data['n_channel_subset']} clips with ≥ {CHANNEL_MIN_S:g} s of other speakers, where `channel_only` "
        f"hears only those others.",
        "",
    ]
    lines += _table(
        methods,
        ("AUC female w/o dominant", "within-speaker AUC", "gender-balanced AUC", "AUC score→gender", "AUC on channel subset"),
        lambda method, m: (
            _fmt(m["auc_female_without_dominant"]),
            f"{_fmt(m['auc_within_speaker'])} ({m['auc_within_speaker'].get('n_pairs', 0)} pairs)",
            _fmt(m["gender_balanced_auc"]), _fmt(m["auc_score_gender"]), _fmt(m["auc_channel_subset"])),
    )
    lines += ["", "mean ± sd over repeats [95 % CI, bootstrap over speakers of the repeat-averaged out-of-fold scores]."]
    lines += _target_lines(report)
    return "\n".join(lines)


# What the models must reach before a verdict means more than the baselines': fixed with the nested protocol.
AIM_FEMALE_WITHOUT_DOMINANT = 0.66
CHANNEL_MARGIN = 0.05
MAX_ECE = 0.08


def _target_lines(report: dict) -> list[str]:
    """Each target as met or missed and by how much, the ResNets and the ensemble against the baselines in the same folds.

    A line that asks it of one model names the best of them on that line, picked after the fact; a line
    that asks it of every shipped model names the worst.
    """
    methods = report["methods"]
    models = {name: m["metrics"] for name, m in methods.items() if m["kind"] in ("variant", "ensemble")}
    if not models or not {"mfcc_logreg", "channel_only"} <= set(methods):
        return []
    logreg, channel = methods["mfcc_logreg"]["metrics"], methods["channel_only"]["metrics"]
    rows = []

    def line(what: str, key: str, target: float, reference: str, *, every: bool = False, reaching: bool = False) -> None:
        """``every``: the highest value must stay at or below ``target``; else the highest must pass it (``reaching``:
        or equal it)."""
        name = max(models, key=lambda n: models[n][key]["mean"])
        value = models[name][key]["mean"]
        margin = target - value if every else value - target
        met = margin >= 0 if every or reaching else margin > 0
        rows.append(f"| {what} | {name} {value:.3f}{' (the highest)' if every else ''} | {reference} | {margin:+.3f} | "
                    f"{'met' if met else 'missed'} |")

    def above_logreg(what: str, key: str) -> None:
        line(f"{what} above `mfcc_logreg`", key, logreg[key]["mean"], f"{logreg[key]['mean']:.3f}")

    above_logreg("gender-balanced AUC", "gender_balanced_auc")
    women = logreg["auc_female_without_dominant"]["mean"]
    line(f"AUC among women without {report['data']['dominant_speaker']} above `mfcc_logreg` and ≥ "
         f"{AIM_FEMALE_WITHOUT_DOMINANT:.2f}", "auc_female_without_dominant", max(women, AIM_FEMALE_WITHOUT_DOMINANT),
         f"{women:.3f}; {AIM_FEMALE_WITHOUT_DOMINANT:.2f}")
    above_logreg("within-speaker AUC", "auc_within_speaker")
    label = report["data"]["auc_label_gender"]
    line("AUC score→gender not above the label's, for every model", "auc_score_gender", label, f"{label:.3f}", every=True)
    line(f"AUC on the channel subset ≥ {CHANNEL_MARGIN:.2f} above `channel_only`", "auc_channel_subset",
         channel["auc"]["mean"] + CHANNEL_MARGIN, f"{channel['auc']['mean']:.3f} + {CHANNEL_MARGIN:.2f}", reaching=True)
    line(f"ECE ≤ {MAX_ECE:.2f} for every model", "ece", MAX_ECE, f"{MAX_ECE:.2f}", every=True)
    above_logreg("overall AUC", "auc")
    return ["", "Against the targets (the ResNets and the ensemble, in the same folds as the baselines; a line that asks "
            "it of one model names the best on that line, picked after the fact; a line that asks it of every model "
            "names the worst; margin: how far past the target, negative when short):", "",
            "| target | model | reference | margin | |", "| --- | --- | --- | --- | --- |", *rows]


def save_report(report: dict, directory: Path) -> tuple[Path, Path]:
    """Write ``cv_report.json`` and ``cv_report.md``."""
    directory.mkdir(parents=True, exist_ok=True)
    json_path, md_path = directory / "cv_report.json", directory / "cv_report.md"
    json_path.write_text(jsonutil.dumps(report))
    figures = save_report_figures(report, directory)
    saliency = directory / "saliency.png"  # written by `deceptio train` from the shipped models; kept across evaluations
    md_path.write_text(
        "# Cross-validation report\n\n" + format_report(report) + "\n\n"
        + "".join(f"![{path.stem}]({path.name})\n" for path in figures)
        + (f"![saliency]({saliency.name})\n\n{SALIENCY_CAPTION}\n" if saliency.is_file() else "")
    )
    return json_path, md_path
