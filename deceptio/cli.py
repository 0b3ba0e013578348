"""The ``deceptio`` command: analyze a recording, evaluate and train variants."""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import os
import sys
from dataclasses import fields, replace
from pathlib import Path

from deceptio.errors import DeceptioError, ParameterError
from deceptio.paths import DEFAULT_WEIGHTS, REPO, default_manifest
from deceptio.runtime import tune_allocator

__all__ = ["main", "build_parser"]
_TRAINING_MODULES = {"torch", "safetensors", "sklearn", "onnx"}  # deceptio[train]; serving needs none of them
_DATA_NAME = "Real-life Trial (Pérez-Rosas et al., ICMI 2015), audio only"
_DATA_ABOUT = {"material": "courtroom testimony", "language": "English"}  # what the page says the models learnt from


def _analyze(args: argparse.Namespace) -> int:
    from deceptio.audio import AudioConfig, prepare
    from deceptio.modeling.variants import get_variant

    get_variant(args.variant)  # an unknown name fails before any audio is read

    audio_config = AudioConfig(max_duration_s=args.max_minutes * 60)
    if args.ray is not None and not args.csv:
        raise ParameterError("--ray scores a batch into a CSV: add --csv OUT.csv")
    if args.csv:
        from deceptio.serving.batch import ResultsCSV, expand_inputs, score_files

        files = expand_inputs(args.files)
        skipped = ResultsCSV(Path(args.csv), files, variant=args.variant).skipped  # also checks the CSV before any work
        if args.ray is not None:
            from deceptio.distributed import check_address, score_files_on_ray

            failed = score_files_on_ray(files, Path(args.csv), weights=args.weights, variant=args.variant,
                                        audio_config=audio_config, address=check_address(args.ray), workers=args.workers)
        else:
            failed = score_files(files, Path(args.csv), weights=args.weights, variant=args.variant,
                                 audio_config=audio_config, workers=args.workers)
        total = len(dict.fromkeys(files))
        resumed = f" ({skipped} already in the CSV, not scored again)" if skipped else ""
        print(f"{total - failed} of {total} recordings analysed{resumed}; results in {args.csv}")
        return 2 if failed else 0
    detector = inputs = None
    status = 0
    for path in args.files:
        try:
            # The audio is checked, with the card's speech detector, before the models load:
            # a refusal costs no ONNX session.
            if inputs is None:
                from deceptio.modeling.card import input_of

                inputs = input_of(Path(args.weights), args.variant)
            recording = prepare(path, config=audio_config, vad=inputs.vad, sample_rate=inputs.features.sample_rate,
                                hop_length=inputs.features.hop_length)
            if detector is None:
                from deceptio.serving.detector import Detector

                detector = Detector(args.weights, variants=(args.variant,), audio_config=audio_config)
            band = detector.calibration(args.variant).inconclusive_band if args.band is None else args.band
            if not 0.0 <= band < 0.5:
                raise ParameterError(f"--band {band} must be in [0, 0.5)")
            analysis = detector.analyze_recording(recording, variant=args.variant, band=band)
        except DeceptioError as error:
            if len(args.files) == 1:
                raise
            print(f"deceptio: {path}: {error}", file=sys.stderr)
            status = 2
            continue
        if args.json:
            print(json.dumps({"file": str(path), **analysis.to_dict()} if len(args.files) > 1 else analysis.to_dict()))
            continue
        card = detector.card(args.variant)
        from deceptio.serving.wording import headline

        print(f"{path}: {headline(analysis, card)}  p(deceptive) = {analysis.p_deceptive:.2f}  "
              f"(inconclusive within 0.5 ± {analysis.band:.2f}; variant {analysis.variant})")
        cv = card.get("cv", {})
        if "auc" in cv:
            gender = card.get("baselines", {}).get("gender_pitch", {}).get("auc", {}).get("mean", float("nan"))
            print(f"  this variant's cross-validated ROC AUC: {cv['auc']['mean']:.2f} ± {cv['auc']['std']:.2f} "
                  f"(a gender-from-pitch guess: {gender:.2f}; chance: 0.50). Weak evidence about a voice, not proof about a person.")
        print(f"  {analysis.duration_s:.1f} s recording, {analysis.speech_s:.1f} s of speech, {len(analysis.windows)} windows:")
        for window in analysis.windows:
            bar = "#" * int(round(window.p_deceptive * 20))
            print(f"  {window.start:7.1f}–{window.end:7.1f} s  p = {window.p_deceptive:.2f}  {bar}")
    return status


def _compare(args: argparse.Namespace) -> int:
    from deceptio.audio import AudioConfig
    from deceptio.modeling.variants import get_variant
    from deceptio.serving.compare import FEATURE_LABELS, within_speaker_line
    from deceptio.serving.detector import Detector

    get_variant(args.variant)  # an unknown name fails before any audio is read
    detector = Detector(args.weights, variants=None if args.variant == "ensemble" else (args.variant,),
                        audio_config=AudioConfig(max_duration_s=args.max_minutes * 60))
    comparison = detector.compare(args.baseline, args.statement, variant=args.variant)
    if args.json:
        print(comparison.to_json())
        return 0
    print(f"baseline  {args.baseline}: p(deceptive) = {comparison.baseline.p_deceptive:.2f}")
    print(f"statement {args.statement}: p(deceptive) = {comparison.statement.p_deceptive:.2f}  "
          f"(difference {comparison.delta_p:+.2f}, variant {args.variant})")
    for name, row in comparison.feature_deltas().items():
        label, unit = FEATURE_LABELS[name]
        cells = ["—" if row[key] is None else f"{row[key]:.2f}" for key in ("baseline", "statement", "delta")]
        print(f"  {label + (f' ({unit})' if unit else ''):45s} {cells[0]:>9s} {cells[1]:>9s} {cells[2]:>9s}")
    print(within_speaker_line(comparison))
    return 0


def _configs(overrides: list[str]):
    """The model, training and input settings with ``--set SECTION.NAME=VALUE`` applied, each checked."""
    from deceptio.audio.vad import VADConfig
    from deceptio.features import FeatureConfig
    from deceptio.modeling.card import ModelInput
    from deceptio.modeling.images import ImageConfig, WindowConfig
    from deceptio.modeling.models import ModelConfig
    from deceptio.training.train import TrainConfig

    configs = {"model": ModelConfig(), "train": TrainConfig(), "features": FeatureConfig(), "vad": VADConfig(),
               "images": ImageConfig(), "window": WindowConfig()}
    changes = {section: {} for section in configs}
    for item in overrides:
        key, sep, raw = item.partition("=")
        section, _, name = key.partition(".")
        if not sep or section not in configs or name not in {f.name for f in fields(configs[section])}:
            known = [f"{s}.{f.name}" for s, c in configs.items() for f in fields(c)]
            raise ParameterError(f"unknown setting {item!r}; use SECTION.NAME=VALUE with one of: {', '.join(known)}")
        try:
            value = ast.literal_eval(raw)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):  # not a Python literal: a word
            value = raw
        changes[section][name] = (item, value)
    for section, changed in changes.items():  # a section's settings at once: a rule may tie two of them
        try:
            configs[section] = replace(configs[section], **{name: value for name, (_, value) in changed.items()})
        except ParameterError as error:
            raise ParameterError(f"--set {' '.join(item for item, _ in changed.values())}: {error}") from None
    inputs = ModelInput(features=configs["features"], vad=configs["vad"], images=configs["images"], window=configs["window"])
    if configs["train"].time_mask > inputs.window.window_frames:
        raise ParameterError(f"--set: train.time_mask={configs['train'].time_mask} must be <= "
                             f"window.window_frames={inputs.window.window_frames}")
    return configs["model"], configs["train"], inputs


def _load_data(args: argparse.Namespace, inputs):
    from deceptio.training.data import default_cache_dir, extract_dataset, load_dataset

    cache_dir = None if args.no_cache else Path(args.cache_dir or default_cache_dir())
    data_path = Path(args.data)
    if not data_path.exists():
        raise DeceptioError(f"no data at {data_path}: pass --data MANIFEST.csv or a folder of labelled recordings")
    clips = load_dataset(data_path)
    return extract_dataset(clips, feature_config=inputs.features, vad_config=inputs.vad, cache_dir=cache_dir), cache_dir


def _read_json(path: str, what: str) -> dict:
    file = Path(path)
    if not file.is_file():
        raise ParameterError(f"{what} {file} does not exist")
    try:
        return json.loads(file.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ParameterError(f"{what} {file} is not valid JSON ({error})") from None


def _print_and_save(args: argparse.Namespace, report: dict) -> None:
    from deceptio.training.report import format_report, save_report

    report["data"]["source"] = str(args.data)
    print(format_report(report))
    json_path, md_path = save_report(report, Path(args.report_dir))
    print(f"\nreport written to {md_path} and {json_path}")


def _cross_validate(args: argparse.Namespace):
    from deceptio.modeling.variants import VARIANTS
    from deceptio.training.cv import CVConfig, cross_validate

    model_config, train_config, inputs = _configs(args.set)
    variants = tuple(args.variants or VARIANTS)
    # Rows computed by other scripts in the same folds (benchmarks/notebook_recipe.py) and what
    # benchmarks/screen_configs.py tried (the count of configurations tried) come in by name only.
    extra_rows = [_read_json(path, "--extra-rows") for path in args.extra_rows]
    screening = _read_json(args.screening, "--screening") if args.screening else None
    if getattr(args, "grid", None) and not getattr(args, "nested", False):
        raise ParameterError("--grid names configurations of --nested's grid: add --nested")
    if getattr(args, "nested", False):
        from deceptio.training.nested import select_grid

        grid = select_grid(args.grid)  # an unknown name is refused before the features are read
    if getattr(args, "nested", False) and (extra_rows or screening):
        raise ParameterError("--nested counts its own grid as the configurations tried; "
                             "it takes no --screening or --extra-rows")
    address = getattr(args, "ray", None)  # `deceptio evaluate --ray [ADDRESS]`: the same fits as Ray tasks
    if address is not None:
        from deceptio import distributed

        distributed.require_ray()  # before the features are read, not after
        session = distributed.ray_session(distributed.check_address(address))
        executor = distributed.RayFits(threads_per_fit=getattr(args, "ray_threads", None))
    else:
        session, executor = contextlib.nullcontext(), None
    data, cache_dir = _load_data(args, inputs)
    cv = CVConfig(folds=args.folds, repeats=args.repeats)
    with session:
        if getattr(args, "nested", False):
            from deceptio.training.nested import nested_cross_validate

            report = nested_cross_validate(data, variants=variants, cv=cv, inner_folds=args.inner_folds, grid=grid,
                                           model_config=model_config, train_config=train_config, inputs=inputs,
                                           cache_dir=cache_dir, executor=executor)
        else:
            report = cross_validate(data, variants=variants, cv=cv, model_config=model_config, train_config=train_config,
                                    inputs=inputs, cache_dir=cache_dir, extra_rows=extra_rows, screening=screening,
                                    executor=executor)
    _print_and_save(args, report)
    return data, report, variants, (model_config, train_config, inputs)


def _evaluate(args: argparse.Namespace) -> int:
    if args.ray is not None and args.weights:
        raise ParameterError("--ray runs cross-validation fits; scoring trained --weights fits nothing")
    if args.ray_threads is not None and (args.ray is None or args.ray_threads < 1):
        raise ParameterError(f"--ray-threads {args.ray_threads} must be >= 1 and goes with --ray")
    if args.nested and (args.update_cards or args.weights):
        raise ParameterError("--nested measures the whole procedure, selection included: its figures belong to "
                             "no single configuration's card, and it trains its own models (no --update-cards, no --weights)")
    if args.weights is None:
        _, report, variants, _ = _cross_validate(args)
        if args.update_cards:
            from deceptio.training.release import refresh_cards
            from deceptio.modeling.card import available_cards

            folder = Path(args.update_cards)
            shipped = [name for name in variants if name in available_cards(folder)]
            for path in refresh_cards(report, folder, variants=tuple(shipped)):
                print(f"updated the figures in {path}")
        return 0
    if args.update_cards:
        raise ParameterError("--update-cards takes its figures from a cross-validation; it cannot be combined with --weights")
    from deceptio.training.cv import CVConfig, evaluate_weights
    from deceptio.serving.detector import Detector

    if args.set:
        raise ParameterError("--set changes training settings; scoring trained --weights uses the settings in their cards")
    detector = Detector(args.weights, variants=tuple(args.variants) if args.variants else None)
    data, _ = _load_data(args, detector.input)
    _print_and_save(args, evaluate_weights(data, detector, variants=tuple(args.variants) if args.variants else None,
                                           cv=CVConfig(folds=args.folds, repeats=args.repeats)))
    return 0


def _train(args: argparse.Namespace) -> int:
    from deceptio.paths import default_cache_dir
    from deceptio.training.release import release

    data, report, variants, (model_config, train_config, inputs) = _cross_validate(args)
    shipped_corpus = Path(args.data).resolve() == default_manifest().resolve()
    name = _DATA_NAME if shipped_corpus else str(args.data)
    configurations = None
    if args.nested:
        from deceptio.training.nested import shipped_configurations

        picked = shipped_configurations(report, model_config, train_config, inputs)
        for variant, (candidate, _) in picked.items():
            print(f"{variant}: ships {candidate}, the configuration its inner CV on all clips picked")
        configurations = {variant: settings for variant, (_, settings) in picked.items()}
    written = release(
        data, report, variants=variants, out_dir=Path(args.out), data_name=name,
        data_about=_DATA_ABOUT if shipped_corpus else None, model_config=model_config,
        train_config=train_config, inputs=inputs, configurations=configurations,
        cache_dir=None if args.no_cache else Path(args.cache_dir or default_cache_dir()),
    )
    for path in written:
        print(f"wrote {path}")
    if "spec_prosody" in variants:
        from deceptio.serving.detector import Detector
        from deceptio.training.report_plots import save_saliency_figure

        from deceptio.training.report import save_report

        figure = save_saliency_figure(Detector(args.out, variants=("spec_prosody",)), data, Path(args.report_dir) / "saliency.png")
        save_report(report, Path(args.report_dir))  # again, now with the saliency figure
        print(f"wrote {figure}")
    return 0


def _export(args: argparse.Namespace) -> int:
    """Write ``<variant>.onnx`` beside each variant's safetensors (what serving runs) and its sha256 into the card."""
    from deceptio.modeling.card import available_cards, load_card, save_card
    from deceptio.modeling.weights import export_variant, load_model

    folder = Path(args.weights)
    names = [name for name in (args.variants or available_cards(folder)) if not load_card(folder, name).get("members")]
    if not names:
        raise ParameterError(f"no model cards with weights in {folder}")
    for name in names:
        card = load_card(folder, name)
        path = save_card(export_variant(load_model(folder, card), card, folder), folder)
        print(f"wrote {folder / (name + '.onnx')} and its sha256 into {path}")
    return 0


def _app(args: argparse.Namespace) -> int:
    import importlib.util

    path = REPO / "app.py"
    if not path.is_file():
        raise DeceptioError(f"deceptio app serves the repository's app.py, which is not at {path}: "
                            "install from a clone with pip install -e .")
    spec = importlib.util.spec_from_file_location("deceptio_app", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    argv = ["--share"] if args.share else []
    for name in ("host", "port", "weights", "max_file_mb", "max_minutes", "concurrency"):  # unset: app.py's defaults
        if getattr(args, name) is not None:
            argv += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    return module.main(argv)


def _download(args: argparse.Namespace) -> int:
    from deceptio.training.mlend import DEFAULT_BASE_URL, download_mlend, mlend_manifest

    base_url = args.base_url or DEFAULT_BASE_URL
    folder = download_mlend(args.directory, base_url=base_url, subset=args.subset)
    manifest = mlend_manifest(folder)
    print(f"MLEnd Deception stories in {folder}; manifest: {manifest}")
    print(f"next: deceptio evaluate --weights weights --data {manifest}   (cross-corpus, the shipped weights)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deceptio",
        description="Estimate from the voice whether a spoken story is truthful or deceptive, with honest, cross-validated figures.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    analyze = commands.add_parser("analyze", help="analyse recordings with a shipped variant")
    analyze.add_argument("files", nargs="+", help="wav, flac, ogg or mp3 files (with --csv, also folders)")
    analyze.add_argument("--variant", default="ensemble", help="spec_mfcc, lsf_lpc, spec_prosody, prosody or ensemble (default)")
    analyze.add_argument("--weights", default=str(DEFAULT_WEIGHTS), help="folder of <variant>.onnx + .json (default: the shipped weights)")
    analyze.add_argument("--band", type=float, default=None, help="half-width of the inconclusive band around 0.5 (default: the card's)")
    analyze.add_argument("--max-minutes", type=float, default=15.0, help="refuse longer recordings (default 15)")
    analyze.add_argument("--json", action="store_true", help="print one JSON object per file")
    analyze.add_argument("--csv", default=None, metavar="OUT.csv",
                         help="batch mode: analyse every file (folders are searched) into one CSV, using all cores")
    analyze.add_argument("--workers", type=int, default=None,
                         help="processes for --csv (default: one per core); with --ray, Detector actors (default: one per CPU of the cluster)")
    analyze.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                         help="score --csv's batch on Ray: a local Ray without ADDRESS (or $RAY_ADDRESS), else the cluster at "
                              "HOST:PORT (`ray start --head`); needs deceptio[ray]. Put it after the recordings")
    analyze.set_defaults(run=_analyze)

    compare = commands.add_parser("compare", help="a statement against the same speaker's baseline (a recording they state is true)")
    compare.add_argument("baseline", help="a recording the speaker states is true")
    compare.add_argument("statement", help="the statement to compare with it")
    compare.add_argument("--variant", default="ensemble", help="spec_mfcc, lsf_lpc, spec_prosody, prosody or ensemble (default)")
    compare.add_argument("--weights", default=str(DEFAULT_WEIGHTS), help="folder of <variant>.onnx + .json (default: the shipped weights)")
    compare.add_argument("--max-minutes", type=float, default=15.0, help="refuse longer recordings (default 15)")
    compare.add_argument("--json", action="store_true", help="print one JSON object: both analyses, the differences, the reading")
    compare.set_defaults(run=_compare)

    app = commands.add_parser("app", help="serve the web page (Gradio) on http://127.0.0.1:7860")
    app.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1: this machine only)")
    app.add_argument("--port", type=int, default=None, help="default 7860")
    app.add_argument("--share", action="store_true", help="also ask Gradio for a temporary public link")
    app.add_argument("--weights", default=None,
                     help="weights folder or hf://OWNER/REPO@REVISION (default: the shipped weights; falls back to them)")
    app.add_argument("--max-file-mb", type=float, default=None, help="largest upload the server accepts (default 100)")
    app.add_argument("--max-minutes", type=float, default=None, help="longest recording analysed (default 15)")
    app.add_argument("--concurrency", type=int, default=None, help="analyses running at once (default 2)")
    app.set_defaults(run=_app)

    export = commands.add_parser("export", help="write the ONNX graphs serving runs from existing safetensors weights (needs torch)")
    export.add_argument("--weights", default=str(DEFAULT_WEIGHTS), help="folder of <variant>.safetensors + .json (default: the shipped weights)")
    export.add_argument("--variants", nargs="+", default=None, help="variants to export (default: every card with weights)")
    export.set_defaults(run=_export)

    download = commands.add_parser("download", help="fetch a public corpus and write its manifest")
    download.add_argument("corpus", choices=["mlend"], help="mlend: the MLEnd Deception stories (QMUL)")
    download.add_argument("directory", help="where the files go; an interrupted download resumes here")
    download.add_argument("--subset", default="small", choices=["small", "benchmark"])
    download.add_argument("--base-url", default=None, help="mirror of the MLEnd repository (default: its GitHub address)")
    download.set_defaults(run=_download)

    for name, run, help_text in (
        ("evaluate", _evaluate, "speaker-grouped cross-validation of the variants and the baselines"),
        ("train", _train, "cross-validate, then train every variant on all data and write weights and cards"),
    ):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--data", default=str(default_manifest()),
                         help="manifest CSV or folder of labelled recordings (default: $DECEPTIO_CORPUS or the shared Real-life Trial corpus)")
        sub.add_argument("--variants", nargs="+", default=None, help="variants to run (default: all, ensemble included)")
        sub.add_argument("--folds", type=int, default=5)
        sub.add_argument("--repeats", type=int, default=5, help="repeats of the grouped K-fold with different seeds")
        sub.add_argument("--report-dir", default="reports", help="where cv_report.md/.json go")
        sub.add_argument("--cache-dir", default=None, help="feature and fold cache (default $DECEPTIO_CACHE or ~/.cache/deceptio)")
        sub.add_argument("--no-cache", action="store_true", help="recompute everything")
        sub.add_argument("--set", nargs="*", default=[], metavar="SECTION.NAME=VALUE",
                         help="override a setting, e.g. train.epochs=8 model.width=12 window.window_frames=800 features.n_mels=40 "
                              "(sections: features, vad, images, window, model, train)")
        sub.add_argument("--extra-rows", nargs="*", default=[], metavar="ROW.json",
                         help="out-of-fold rows made elsewhere in the same folds (benchmarks/notebook_recipe.py) to join the report")
        sub.add_argument("--screening", default=None, metavar="SCREENING.json",
                         help="what benchmarks/screen_configs.py tried: sets the report's count of configurations tried")
        sub.set_defaults(run=run)
        sub.add_argument("--nested", action="store_true",
                         help="nested CV: in each outer fold an inner speaker-grouped CV picks one configuration of a grid "
                              "fixed in advance (deceptio.training.nested.GRID); the figures include that choice"
                              + ("; each variant ships what the same inner CV picks on all clips" if name == "train" else ""))
        sub.add_argument("--inner-folds", type=int, default=3, help="folds of the inner CV of --nested (default 3)")
        sub.add_argument("--grid", nargs="+", default=None, metavar="NAME",
                         help="the configurations of the grid --nested tries (default: all of them; fewer take less time, "
                              "see the README's cost per configuration), e.g. --grid w4 w8 whole")
        if name == "evaluate":
            sub.add_argument("--update-cards", default=None, metavar="WEIGHTS_DIR",
                             help="rewrite the figures in the cards there from this report (same configuration; weights untouched)")
            sub.add_argument("--weights", default=None,
                             help="score these trained weights on --data instead of cross-validating new models (cross-corpus)")
            sub.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                             help="run the fits as Ray tasks, the same fits and cache keys (--cache-dir shared with local runs): "
                                  "a local Ray without ADDRESS (or $RAY_ADDRESS), else the cluster at HOST:PORT; needs deceptio[ray]")
            sub.add_argument("--ray-threads", type=int, default=None, metavar="N",
                             help="torch threads (and CPUs) per fit with --ray (default: what a local run here uses, so the "
                                  "figures equal it; fewer run more fits at once, with figures that differ by training noise)")
        if name == "train":
            sub.add_argument("--out", default=str(DEFAULT_WEIGHTS), help="folder for the weights and cards")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    tune_allocator()
    try:
        return args.run(args)
    except DeceptioError as error:
        print(f"deceptio: error: {error}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] not in _TRAINING_MODULES:
            raise
        print(f"deceptio: error: `deceptio {args.command}` needs the training set ({error.name} is not installed): "
              "pip install -r requirements-dev.txt, or pip install 'deceptio[train]'", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("deceptio: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`deceptio analyze story.wav | head`): nothing left to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
