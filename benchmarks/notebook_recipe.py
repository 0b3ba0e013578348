"""The original student notebook as a baseline: histogram pictures of 1/F0, centroid and contrast, classified by a d2l ResNet-18.

The recipe deceptio grew out of. Each clip's subject speech becomes one
matplotlib figure of three stacked histograms — 1/F0 from ``librosa.piptrack``,
the spectral centroid, the spectral contrast — rendered, turned grey and
shrunk to 224×224. A d2l-style ResNet-18 with one input channel (Xavier init,
plain SGD at lr 0.05, batch 15, 10 epochs) reads the picture. It is scored in
exactly the speaker-grouped folds ``deceptio.training.cv.make_folds`` gives, and
its out-of-fold probabilities are written as a JSON row the evaluation report
can merge.

Usage::

    python benchmarks/notebook_recipe.py [--data MANIFEST] [--repeats 5] [--folds 5]
        [--epochs 10] [--out reports/extra/notebook_recipe.json] [--limit-folds N]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import librosa
import matplotlib
import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image
from torch import nn
from torchvision.models import resnet18
from tqdm.auto import tqdm


from deceptio import jsonutil
from deceptio.audio import HOP_LENGTH, SAMPLE_RATE, load_audio
from deceptio.training.data import Clip, default_cache_dir, default_manifest, load_manifest, turn_masks
from deceptio.errors import DataError, DeceptioError, ParameterError
from deceptio.training.cv import CVConfig, fold_assignments_sha256, make_folds
from deceptio.training.metrics import accuracy, roc_auc

__all__ = [
    "DESCRIPTION",
    "NAME",
    "NotebookTrainConfig",
    "RecipeConfig",
    "clip_images",
    "cross_validate_notebook",
    "histogram_image",
    "histogram_values",
    "init_weights",
    "main",
    "notebook_resnet18",
    "subject_samples",
    "train_and_predict",
]

NAME = "notebook_recipe"
DESCRIPTION = (
    "The original notebook: matplotlib histograms (1/F0, centroid, contrast) as a 224×224 picture, "
    "ResNet-18, SGD 0.05, 10 epochs."
)
DEFAULT_MANIFEST = default_manifest()
DEFAULT_OUT = Path("reports") / "extra" / "notebook_recipe.json"
_RECIPE_VERSION = "1"  # bump when the picture changes in a way RecipeConfig does not capture


@dataclass(frozen=True)
class RecipeConfig:
    """How a clip becomes the notebook's picture.

    The librosa analyses keep their defaults (``n_fft=2048``, hop 512,
    piptrack's 150–4000 Hz search band), as the notebook did. The histogram
    ranges are fixed so that a bar's position means the same value in every
    picture.
    """

    sample_rate: int = SAMPLE_RATE  # clips are resampled to this before analysis
    turn_hop_length: int = HOP_LENGTH  # samples per frame of the turn masks (10 ms)
    bins: int = 50  # per histogram
    inverse_f0_range_s: tuple[float, float] = (1 / 4000, 1 / 150)  # 1/fmax .. 1/fmin of piptrack's defaults
    centroid_range_hz: tuple[float, float] = (0.0, SAMPLE_RATE / 2)
    contrast_range_db: tuple[float, float] = (0.0, 50.0)  # speech in the corpus: 2–43 dB
    figure_size_in: tuple[float, float] = (6.4, 4.8)  # matplotlib's default figure
    dpi: int = 100  # matplotlib's default: a 640×480 rendering before the resize
    image_size: int = 224  # the square side the network reads

    def __post_init__(self) -> None:
        if self.bins < 1:
            raise ParameterError(f"bins={self.bins} must be an integer >= 1")
        if self.image_size < 32:
            raise ParameterError(f"image_size={self.image_size} must be >= 32 for ResNet-18's five halvings")
        for name in ("inverse_f0_range_s", "centroid_range_hz", "contrast_range_db"):
            low, high = getattr(self, name)
            if not low < high:
                raise ParameterError(f"{name}={getattr(self, name)} must be an increasing (low, high) pair")

    def digest(self) -> str:
        """A short hash of the recipe and of the library versions that draw the picture."""
        payload = json.dumps([_RECIPE_VERSION, asdict(self), librosa.__version__, matplotlib.__version__], sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class NotebookTrainConfig:
    """d2l's ``train_ch6`` as the notebook called it."""

    epochs: int = 10
    learning_rate: float = 0.05  # plain SGD: no momentum, no weight decay
    batch_size: int = 15
    seed: int = 0  # base of the per-fold seeds of initialisation and shuffling

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ParameterError(f"epochs={self.epochs} must be >= 1")
        if self.batch_size < 2:
            raise ParameterError(f"batch_size={self.batch_size} must be >= 2 (batch normalisation)")
        if not self.learning_rate > 0:
            raise ParameterError(f"learning_rate={self.learning_rate} must be > 0")


# --------------------------------------------------------------------------- pictures


def subject_samples(y: np.ndarray, turns: Path | None, *, sample_rate: int = SAMPLE_RATE, hop_length: int = HOP_LENGTH) -> np.ndarray:
    """The subject's samples of a clip, turns concatenated in time order.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        The clip at ``sample_rate``.
    turns : Path or None
        Turns CSV (``start,end,speaker,role,gender``); None, or no subject
        turn, means the whole clip is the subject's (``turn_masks``' rule).

    Returns
    -------
    np.ndarray [shape=(m,), m <= n]
    """
    n_frames = 1 + len(y) // hop_length
    subject, _ = turn_masks(turns, n_frames, hop_length=hop_length, sample_rate=sample_rate)
    # Frame t is centred on sample t * hop_length: sample i belongs to the nearest frame.
    frame_of_sample = np.minimum((np.arange(len(y)) + hop_length // 2) // hop_length, n_frames - 1)
    return y[subject[frame_of_sample]]


def histogram_values(y: np.ndarray, *, sample_rate: int = SAMPLE_RATE) -> dict[str, np.ndarray]:
    """The three value sets the notebook histogrammed.

    Returns
    -------
    dict with
        ``inverse_f0`` : 1/F0 in seconds, per frame the pitch of piptrack's
        strongest bin, frames without a pitch dropped;
        ``centroid`` : spectral centroid per frame, Hz;
        ``contrast`` : every band's spectral contrast of every frame, dB.
    """
    y = np.asarray(y, dtype=np.float32)
    pitches, magnitudes = librosa.piptrack(y=y, sr=sample_rate)
    f0 = pitches[magnitudes.argmax(axis=0), np.arange(pitches.shape[1])]
    f0 = f0[f0 > 0]
    return {
        "inverse_f0": 1.0 / f0,
        "centroid": librosa.feature.spectral_centroid(y=y, sr=sample_rate).ravel(),
        "contrast": librosa.feature.spectral_contrast(y=y, sr=sample_rate).ravel(),
    }


def histogram_image(y: np.ndarray, *, config: RecipeConfig = RecipeConfig()) -> np.ndarray:
    """The notebook's picture of a recording.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Subject speech at ``config.sample_rate``.

    Returns
    -------
    image : np.ndarray [shape=(image_size, image_size), dtype=float32]
        Greyscale in [0, 1] (white background = 1): three stacked histograms,
        1/F0 on top, then centroid, then contrast.
    """
    values = histogram_values(y, sample_rate=config.sample_rate)
    panels = (
        ("inverse_f0", config.inverse_f0_range_s, "1/F0 (s)"),
        ("centroid", config.centroid_range_hz, "spectral centroid (Hz)"),
        ("contrast", config.contrast_range_db, "spectral contrast (dB)"),
    )
    # A Figure with its own Agg canvas, not pyplot: no global state, no GUI backend.
    figure = Figure(figsize=config.figure_size_in, dpi=config.dpi, layout="tight")
    canvas = FigureCanvasAgg(figure)
    for axis, (key, value_range, title) in zip(figure.subplots(3, 1), panels):
        axis.hist(values[key], bins=config.bins, range=value_range)
        axis.set_title(title, fontsize=8)
        axis.set_xlim(*value_range)
        axis.tick_params(labelsize=6)
    canvas.draw()
    grey = Image.fromarray(np.asarray(canvas.buffer_rgba())).convert("L")
    grey = grey.resize((config.image_size, config.image_size), Image.BILINEAR)
    return np.asarray(grey, dtype=np.float32) / 255.0


def _cache_key(clip: Clip, config: RecipeConfig) -> str:
    stat = clip.path.stat()
    turns = clip.turns.read_bytes() if clip.turns is not None and clip.turns.is_file() else b""
    payload = json.dumps(
        [config.digest(), str(clip.path.resolve()), stat.st_size, stat.st_mtime_ns, hashlib.sha256(turns).hexdigest()],
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def clip_images(
    clips: list[Clip],
    *,
    config: RecipeConfig = RecipeConfig(),
    cache_dir: Path | None = None,
    progress: bool = True,
) -> np.ndarray:
    """The picture of every clip's subject speech, read from the cache where a previous run left it.

    Returns
    -------
    np.ndarray [shape=(len(clips), image_size, image_size), dtype=float32], in [0, 1]
    """
    images = []
    for clip in tqdm(clips, desc="pictures", unit="clip", disable=not progress):
        cache_file = None
        if cache_dir is not None:
            cache_file = cache_dir / f"{clip.id}-{_cache_key(clip, config)}.npz"
            if cache_file.is_file():
                with np.load(cache_file, allow_pickle=False) as stored:
                    images.append(stored["image"].astype(np.float32) / 255.0)
                continue
        try:
            y = load_audio(clip.path, sample_rate=config.sample_rate)
        except DeceptioError as error:
            raise DataError(f"{clip.path.name}: {error}") from error
        y = subject_samples(y, clip.turns, sample_rate=config.sample_rate, hop_length=config.turn_hop_length)
        image = histogram_image(y, config=config)
        if cache_file is not None:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache_file.with_suffix(".tmp.npz")
            # The picture is 8-bit greyscale, so uint8 stores it exactly.
            np.savez_compressed(tmp, image=np.round(image * 255).astype(np.uint8))
            tmp.replace(cache_file)
        images.append(image)
    return np.stack(images)


# --------------------------------------------------------------------------- model


def init_weights(module: nn.Module) -> None:
    """d2l's ``init_weights``: Xavier-uniform weights of every Conv2d and Linear, biases left as they are."""
    if isinstance(module, (nn.Linear, nn.Conv2d)):
        nn.init.xavier_uniform_(module.weight)


def notebook_resnet18() -> nn.Module:
    """ResNet-18 for one-channel pictures and two classes, Xavier-initialised.

    d2l's layout: a 7×7/2 convolution, batch norm, ReLU and 3×3/2 max-pool,
    four stages of two residual blocks (64, 128, 256, 512 channels), global
    average pooling, a linear layer to 2 logits. torchvision's ``resnet18``
    has exactly these shapes; only its first convolution is swapped for a
    one-channel one.
    """
    net = resnet18(weights=None, num_classes=2)
    net.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
    net.apply(init_weights)
    return net


def train_and_predict(
    train_images: np.ndarray,
    train_labels: np.ndarray,
    test_images: np.ndarray,
    *,
    config: NotebookTrainConfig = NotebookTrainConfig(),
    seed: int = 0,
) -> np.ndarray:
    """Train a fresh network as d2l's ``train_ch6`` does and return p(deceptive) of the test pictures.

    Parameters
    ----------
    train_images, test_images : np.ndarray [shape=(n, h, w)], in [0, 1]
    train_labels : np.ndarray [shape=(n,)], 1 = deceptive
    seed : int
        Seeds initialisation and batch order.

    Returns
    -------
    np.ndarray [shape=(len(test_images),)], in [0, 1]
    """
    torch.manual_seed(seed)
    net = notebook_resnet18()
    optimiser = torch.optim.SGD(net.parameters(), lr=config.learning_rate)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.from_numpy(np.ascontiguousarray(train_images, dtype=np.float32)).unsqueeze(1)
    t = torch.from_numpy(np.asarray(train_labels, dtype=np.int64))
    order_rng = torch.Generator().manual_seed(seed)
    net.train()
    for _ in range(config.epochs):
        order = torch.randperm(len(x), generator=order_rng)
        for start in range(0, len(x), config.batch_size):
            batch = order[start : start + config.batch_size]
            if len(batch) < 2:  # batch norm cannot train on a single picture
                continue
            optimiser.zero_grad()
            loss_fn(net(x[batch]), t[batch]).backward()
            optimiser.step()
    net.eval()
    test = torch.from_numpy(np.ascontiguousarray(test_images, dtype=np.float32)).unsqueeze(1)
    with torch.no_grad():
        logits = torch.cat([net(test[i : i + 64]) for i in range(0, len(test), 64)])
    return torch.softmax(logits, dim=1)[:, 1].numpy().astype(np.float64)


# --------------------------------------------------------------------------- evaluation


def cross_validate_notebook(
    images: np.ndarray,
    labels: np.ndarray,
    assignments: list[np.ndarray],
    *,
    config: NotebookTrainConfig = NotebookTrainConfig(),
    limit_folds: int | None = None,
    progress: bool = True,
) -> np.ndarray:
    """Out-of-fold p(deceptive), shape (repeats, n_clips); NaN for clips of folds skipped by ``limit_folds``."""
    n_folds = int(max(fold.max() for fold in assignments)) + 1
    used = n_folds if limit_folds is None else limit_folds
    if not 1 <= used <= n_folds:
        raise ParameterError(f"limit_folds={limit_folds} must be between 1 and folds={n_folds}")
    probabilities = np.full((len(assignments), len(labels)), np.nan)
    with tqdm(total=len(assignments) * used, desc="folds", unit="fold", disable=not progress) as bar:
        for repeat, fold_of in enumerate(assignments):
            for k in range(used):
                test = fold_of == k
                probabilities[repeat, test] = train_and_predict(
                    images[~test], labels[~test], images[test], config=config,
                    seed=1000 * (config.seed + repeat) + k,
                )
                bar.update()
    return probabilities


def _summary(values: list[float]) -> str:
    array = np.asarray(values, dtype=np.float64)
    sd = array.std(ddof=1) if array.size > 1 else 0.0
    return f"{array.mean():.3f} ± {sd:.3f}"


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_MANIFEST, help="manifest CSV (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=5, help="repeats of the grouped K-fold (seeds 0..R-1)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=NotebookTrainConfig.epochs)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON row for the report (default: %(default)s)")
    parser.add_argument("--limit-folds", type=int, default=None, metavar="N",
                        help="train only the first N folds of each repeat (smoke runs; other clips get null)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the notebook recipe in deceptio's folds and write its report row."""
    args = _parse_args(argv)
    started = time.perf_counter()
    cv = CVConfig(folds=args.folds, repeats=args.repeats)
    train_config = NotebookTrainConfig(epochs=args.epochs)
    if args.limit_folds is not None and not 1 <= args.limit_folds <= args.folds:
        raise ParameterError(f"limit_folds={args.limit_folds} must be between 1 and folds={args.folds}")

    clips = load_manifest(args.data)
    labels = np.array([clip.label for clip in clips], dtype=np.int64)
    speakers = np.array([clip.speaker for clip in clips])
    assignments = make_folds(labels, speakers, cv)

    images = clip_images(clips, cache_dir=default_cache_dir() / "notebook", progress=not args.quiet)
    probabilities = cross_validate_notebook(
        images, labels, assignments, config=train_config, limit_folds=args.limit_folds, progress=not args.quiet
    )
    seconds = time.perf_counter() - started

    aucs, accuracies = [], []
    for repeat, p in enumerate(probabilities):
        scored = np.isfinite(p)
        aucs.append(roc_auc(labels[scored], p[scored]))
        accuracies.append(accuracy(labels[scored], p[scored]))
        print(f"repeat {repeat} (seed {cv.first_seed + repeat}, {int(scored.sum())} clips): "
              f"AUC {aucs[-1]:.3f}, accuracy {accuracies[-1]:.3f}")
    print(f"{NAME}: AUC {_summary(aucs)}, accuracy at 0.5 {_summary(accuracies)} over {cv.repeats} repeat(s); {seconds:.0f} s")

    row = {
        "name": NAME,
        "kind": "baseline",
        "description": DESCRIPTION,
        "clip_ids": [clip.id for clip in clips],
        "folds": {"folds": cv.folds, "repeats": cv.repeats, "first_seed": cv.first_seed},
        "fold_assignments_sha256": fold_assignments_sha256(assignments),
        "probabilities": [[float(v) for v in p] for p in probabilities],  # unrounded: saturated scores would tie
        "seconds": round(seconds, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(jsonutil.dumps(row) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
