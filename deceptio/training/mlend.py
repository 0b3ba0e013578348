"""The MLEnd Deception stories: fetch them from their public repository and turn their attributes into a manifest.

MLEnd (Queen Mary University of London) publishes its Deception dataset in the
GitHub repository ``MLEndDatasets/Deception``, the layout the ``mlend``
package downloads from::

    MLEndDD_story_attributes_small.csv      filename,Language,Story_type
    MLEndDD_stories_small/00001.wav ...     one narrated story per file
    MLEndDD_story_attributes_benchmark.csv  filename,Language,Story_type,Benchmark_A
    MLEndDD_stories/...

``Story_type`` is ``true_story`` or ``deceptive_story``; ``Language`` is free
text (``"Chinese, Mandarin"`` is quoted). :func:`download_mlend` mirrors that
layout into a folder, resuming partial files and checking every size, and
:func:`mlend_manifest` writes the ``manifest.csv`` that
:func:`deceptio.training.data.load_manifest` reads.
"""

from __future__ import annotations

import csv
import http.client
import io
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

from deceptio import __version__
from deceptio.audio.io import AUDIO_SUFFIXES
from deceptio.errors import DataError, ParameterError
from deceptio.training.data import parse_gender

__all__ = [
    "DEFAULT_BASE_URL",
    "MLEND_LAYOUTS",
    "MLEndLayout",
    "MLEndStory",
    "download_mlend",
    "mlend_manifest",
    "read_mlend_attributes",
]

# github.com/<repo>/raw/<branch>/ redirects to raw.githubusercontent.com, or to
# media.githubusercontent.com for files kept in Git LFS, so it serves the
# audio whichever way the repository stores it.
DEFAULT_BASE_URL = "https://github.com/MLEndDatasets/Deception/raw/main"

_MAX_FILE_BYTES = 200 * 1024**2  # a 5-minute story is ~50 MB as 48 kHz stereo PCM
_MAX_ATTRIBUTES_BYTES = 10 * 1024**2
_CHUNK_BYTES = 64 * 1024
_RETRY_PAUSE_S = 1.0  # doubled after each failed try
_STORY_TYPES = {"true_story": "truthful", "deceptive_story": "deceptive"}
_SPEAKER_COLUMNS = ("participant", "participant_id", "speaker", "speaker_id", "storyteller", "storyteller_id")
_SIZE_COLUMNS = ("size", "bytes", "size_bytes", "file_size", "filesize")
_LFS_POINTER = b"version https://git-lfs"


@dataclass(frozen=True)
class MLEndLayout:
    """Where one subset of MLEnd Deception lives in the repository (and in the local folder)."""

    name: str
    attributes: str  # CSV at the repository root
    audio_dir: str  # folder holding the files the CSV lists


MLEND_LAYOUTS = {
    "small": MLEndLayout("small", "MLEndDD_story_attributes_small.csv", "MLEndDD_stories_small"),
    "benchmark": MLEndLayout("benchmark", "MLEndDD_story_attributes_benchmark.csv", "MLEndDD_stories"),
}


@dataclass(frozen=True)
class MLEndStory:
    """One row of an MLEnd attributes CSV."""

    filename: str  # a bare file name, e.g. "00001.wav"
    label: str  # "deceptive" or "truthful"
    language: str  # as written in the CSV, "" if absent
    speaker: str | None  # a storyteller id when the CSV has one
    gender: str  # "F", "M" or "unknown"
    size: int | None  # bytes, when the CSV has a size column


class _Retryable(Exception):
    """A failure another try may cure: a dropped or refused connection, a short body, a 5xx."""


class _RangeRefused(Exception):
    """The server answered 416: the partial file is not a prefix it can continue."""


class _NoHead(Exception):
    """The server does not answer HEAD requests (405, 501)."""


# ----------------------------------------------------------------------------- attributes


def _normalise(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def _check_filename(name: str, where: str) -> str:
    # The names come from a file on a server and become paths here: only a
    # plain audio file name may pass, never a folder, '..' or an absolute path.
    name = name.strip()
    if (
        not name
        or name.startswith(".")
        or "\\" in name
        or "\x00" in name
        or PurePosixPath(name).name != name
    ):
        raise DataError(f"{where}: filename {name!r} is not a plain file name")
    if PurePosixPath(name).suffix.lower() not in AUDIO_SUFFIXES:
        raise DataError(f"{where}: filename {name!r} is not an audio file ({', '.join(sorted(AUDIO_SUFFIXES))})")
    return name


def read_mlend_attributes(path: str | os.PathLike) -> list[MLEndStory]:
    """Read an MLEnd Deception attributes CSV.

    Column names are matched case-insensitively, with spaces and hyphens read
    as underscores. ``filename`` and ``Story_type`` are required; ``Language``
    and, where present, a storyteller id (``Participant``, ``Speaker``,
    ``Storyteller``), ``Gender`` and a size in bytes (``size``, ``bytes``)
    are kept; other columns (``Benchmark_A``) are ignored.

    Parameters
    ----------
    path : path
        The CSV file.

    Returns
    -------
    list of MLEndStory
        In the file's order.

    Raises
    ------
    DataError
        The file is missing, is not UTF-8 CSV, lacks a required column, lists
        no story or the same file twice, names a file that is not a plain
        audio file name, or gives a story type other than ``true_story`` /
        ``deceptive_story`` (``True Story`` / ``Deceptive Story`` also pass).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"MLEnd attributes file {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise DataError(f"MLEnd attributes file {path} is not UTF-8 text ({error.reason} at byte {error.start})") from None
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader, None)
        if not header:
            raise DataError(f"MLEnd attributes file {path} is empty")
        columns = {_normalise(name): index for index, name in enumerate(header)}
        missing = [name for name in ("filename", "story_type") if name not in columns]
        if missing:
            raise DataError(
                f"MLEnd attributes file {path} lacks the column(s) {missing}; it has {header} "
                "(expected filename,Language,Story_type)"
            )
        speaker_column = next((columns[name] for name in _SPEAKER_COLUMNS if name in columns), None)
        size_column = next((columns[name] for name in _SIZE_COLUMNS if name in columns), None)

        def cell(row: list[str], index: int | None) -> str:
            return row[index].strip() if index is not None and index < len(row) else ""

        stories: list[MLEndStory] = []
        seen: set[str] = set()
        for line, row in enumerate(reader, start=2):
            if not any(value.strip() for value in row):
                continue
            where = f"{path.name} line {line}"
            filename = _check_filename(cell(row, columns["filename"]), where)
            if filename in seen:
                raise DataError(f"{where}: {filename} is listed twice")
            seen.add(filename)
            story_type = cell(row, columns["story_type"])
            label = _STORY_TYPES.get(_normalise(story_type))
            if label is None:
                raise DataError(f"{where}: Story_type {story_type!r} is neither true_story nor deceptive_story")
            size = None
            if size_column is not None and cell(row, size_column):
                raw = cell(row, size_column)
                if not raw.isdigit():
                    raise DataError(f"{where}: size {raw!r} is not a whole number of bytes")
                size = int(raw)
            stories.append(
                MLEndStory(
                    filename=filename,
                    label=label,
                    language=cell(row, columns.get("language")),
                    speaker=cell(row, speaker_column) or None,
                    gender=parse_gender(cell(row, columns.get("gender"))),
                    size=size,
                )
            )
    except csv.Error as error:
        raise DataError(f"MLEnd attributes file {path} is not valid CSV: {error}") from None
    if not stories:
        raise DataError(f"MLEnd attributes file {path} lists no stories")
    return stories


# ----------------------------------------------------------------------------- HTTP


class _KeepHeadRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects as urllib does, but keep a HEAD a HEAD (Python < 3.13 turns it into a GET)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and req.get_method() == "HEAD":
            new.method = "HEAD"
        return new


def _open(url: str, *, method: str = "GET", offset: int = 0, timeout: float) -> http.client.HTTPResponse:
    headers = {"User-Agent": f"deceptio/{__version__}", "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers, method=method)
    try:
        return urllib.request.build_opener(_KeepHeadRedirects).open(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        error.close()
        if error.code == 416:
            raise _RangeRefused() from None
        if method == "HEAD" and error.code in (405, 501):
            raise _NoHead() from None
        if error.code == 404:
            raise DataError(f"{url} does not exist on the server (HTTP 404); check the base URL") from None
        if error.code in (408, 429) or error.code >= 500:
            raise _Retryable(f"the server answered HTTP {error.code} {error.reason}") from None
        raise DataError(f"the server refused {url}: HTTP {error.code} {error.reason}") from None
    except urllib.error.URLError as error:
        host = urllib.parse.urlsplit(url).netloc
        raise _Retryable(f"cannot reach {host}: {error.reason}") from None
    except (OSError, http.client.HTTPException) as error:  # timeouts, resets, garbled answers
        raise _Retryable(f"no answer from {urllib.parse.urlsplit(url).netloc}: {error or type(error).__name__}") from None


def _content_length(response: http.client.HTTPResponse) -> int | None:
    value = (response.headers.get("Content-Length") or "").strip()
    return int(value) if value.isdigit() else None


def _content_range(response: http.client.HTTPResponse) -> tuple[int, int | None]:
    """``(first byte, total size or None)`` of a 206 answer."""
    match = re.fullmatch(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", (response.headers.get("Content-Range") or "").strip())
    if match is None:
        raise _Retryable(f"the server's partial answer has no usable Content-Range ({response.headers.get('Content-Range')!r})")
    return int(match[1]), None if match[3] == "*" else int(match[3])


def _retrying(action, *, url: str, retries: int):
    """Run ``action()``; after a :class:`_Retryable` failure wait, then try again, ``retries`` times."""
    for attempt in range(retries + 1):
        try:
            return action()
        except _Retryable as error:
            if attempt == retries:
                tries = f" (gave up after {retries + 1} tries)" if retries else ""
                raise DataError(f"could not download {url}: {error}{tries}") from None
            time.sleep(min(_RETRY_PAUSE_S * 2**attempt, 30.0))
    raise AssertionError("unreachable")  # pragma: no cover


def _remote_size(url: str, *, timeout: float) -> int | None:
    """The server's Content-Length for ``url`` (a HEAD request), None when it gives none."""
    try:
        with _open(url, method="HEAD", timeout=timeout) as response:
            return _content_length(response)
    except _NoHead:
        return None


def _too_big(url: str, size: int, limit: int) -> DataError:
    return DataError(f"{url} is {size:,} bytes, more than the {limit:,} an MLEnd file can be; refusing it")


def _stream(url: str, part: Path, *, timeout: float, limit: int, expected: int | None, progress: bool) -> None:
    """Bring ``part`` to the server's whole file: continue it with a Range request, or start it again."""
    offset = part.stat().st_size if part.is_file() else 0
    try:
        response = _open(url, offset=offset, timeout=timeout)
    except _RangeRefused:
        part.unlink(missing_ok=True)
        raise _Retryable("the partial file does not fit the server's file; starting it again") from None
    with response:
        if offset and response.status == 206:
            first, total = _content_range(response)
            if first != offset:
                part.unlink(missing_ok=True)
                raise _Retryable(f"the server resumed at byte {first}, not {offset}; starting the file again")
            mode = "ab"
        else:  # 200: the whole file, whether or not a range was asked for
            offset, mode, total = 0, "wb", _content_length(response)
        if total is not None and total > limit:
            raise _too_big(url, total, limit)
        if total is not None and expected is not None and total != expected:
            raise DataError(f"{url} is {total:,} bytes on the server but {expected:,} in the attributes; refusing it")
        name = PurePosixPath(urllib.parse.urlsplit(url).path).name
        with open(part, mode) as handle, tqdm(
            total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
            desc=name, leave=False, disable=not progress,
        ) as bar:
            written = offset
            while True:
                try:
                    chunk = response.read(_CHUNK_BYTES)
                except (OSError, http.client.HTTPException) as error:
                    raise _Retryable(f"the connection broke after {written:,} bytes ({error or type(error).__name__})") from None
                if not chunk:
                    break
                written += len(chunk)
                if written > limit:
                    raise _too_big(url, written, limit)
                if total is not None and written > total:
                    raise DataError(f"{url}: the server sent more than the {total:,} bytes it announced")
                handle.write(chunk)
                bar.update(len(chunk))
    if total is not None and written < total:
        raise _Retryable(f"the server sent {written:,} of {total:,} bytes")


def _check_audio(url: str, part: Path) -> None:
    """Refuse what is plainly not audio: a Git LFS pointer, an HTML page, a WAV without its header."""
    with open(part, "rb") as handle:
        head = handle.read(512)
    if head.startswith(_LFS_POINTER):
        raise DataError(f"{url} is a Git LFS pointer, not the audio; use a base URL that serves LFS files (github.com/<repo>/raw/<branch>)")
    if head.lstrip()[:15].lower().startswith((b"<!doctype", b"<html")):
        raise DataError(f"{url} is a web page, not audio; check the base URL")
    if part.name.lower().endswith(".wav.part") and not (head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE"):
        raise DataError(f"{url} is not a WAV file (no RIFF/WAVE header)")


def _fetch(
    url: str,
    target: Path,
    *,
    timeout: float,
    retries: int,
    progress: bool,
    limit: int | None = None,  # bytes; the audio limit by default
    expected: int | None = None,
    audio: bool = False,
) -> bool:
    """Download ``url`` to ``target`` through ``target.part``; False when ``target`` was already complete."""
    limit = _MAX_FILE_BYTES if limit is None else limit
    part = target.with_name(target.name + ".part")
    if target.is_file():
        remote = _retrying(lambda: _remote_size(url, timeout=timeout), url=url, retries=retries)
        local = target.stat().st_size
        if (remote is None or local == remote) and (expected is None or local == expected):
            part.unlink(missing_ok=True)  # a leftover of an older run
            return False
        target.unlink()  # stale or damaged: fetched afresh below
    try:
        _retrying(
            lambda: _stream(url, part, timeout=timeout, limit=limit, expected=expected, progress=progress),
            url=url, retries=retries,
        )
        size = part.stat().st_size
        if expected is not None and size != expected:
            raise DataError(f"{url} arrived with {size:,} bytes, not the {expected:,} of the attributes")
        if audio:
            _check_audio(url, part)
        part.replace(target)
    except Exception:
        # A run that fails leaves nothing half-written; only an interrupted one
        # (Ctrl-C, a killed process) keeps the .part for the next run to continue.
        part.unlink(missing_ok=True)
        raise
    return True


# ----------------------------------------------------------------------------- public API


def _layout(subset: str) -> MLEndLayout:
    if subset not in MLEND_LAYOUTS:
        raise ParameterError(f"subset={subset!r} is not an MLEnd Deception subset; choose one of {sorted(MLEND_LAYOUTS)}")
    return MLEND_LAYOUTS[subset]


def download_mlend(
    directory: str | os.PathLike,
    *,
    base_url: str = DEFAULT_BASE_URL,
    subset: str = "small",
    progress: bool = True,
    timeout: float = 30.0,
    retries: int = 3,
) -> Path:
    """Fetch the MLEnd Deception attributes CSV, then every story it lists, into ``directory``.

    The repository's layout is kept: ``directory/<attributes>.csv`` and
    ``directory/<audio folder>/<filename>`` (see :data:`MLEND_LAYOUTS`).
    Each file is written to ``<name>.part`` and renamed only once its size
    equals the server's Content-Length (and the attributes' size, when the
    CSV has one). A file already there with the server's size is skipped
    (one HEAD request), so a second run downloads nothing. A ``.part`` left
    by an interrupted run is continued with an HTTP Range request; a server
    that answers the whole file instead (200) has it written from the start.
    Dropped connections, short bodies and 5xx answers are retried, resuming
    where the bytes stopped. A run that fails removes its ``.part`` files.
    (A server that sends no Content-Length cannot have its sizes checked;
    GitHub sends one.)

    Parameters
    ----------
    directory : path
        Created if needed.
    base_url : str
        Where the repository's files are served: ``{base_url}/<attributes>.csv``
        and ``{base_url}/<audio folder>/<filename>``. Default: the MLEnd
        GitHub repository's main branch.
    subset : {"small", "benchmark"}
        ``small``: the 100 stories of ``MLEndDD_story_attributes_small.csv``.
        ``benchmark``: the stories of ``MLEndDD_story_attributes_benchmark.csv``
        (with a ``Benchmark_A`` train/test column).
    progress : bool
        Show a bar of stories and one of bytes for the file in flight (stderr).
    timeout : float > 0
        Seconds to wait for a connection or for the next bytes.
    retries : int >= 0
        Further tries of a file after a failure that may pass.

    Returns
    -------
    Path
        ``directory``, ready for :func:`mlend_manifest`.

    Raises
    ------
    ParameterError
        A bad ``subset``, ``base_url``, ``timeout`` or ``retries``.
    DataError
        The server cannot be reached, a file is missing on it (404), the
        attributes CSV is malformed, a file's size is absurd (over 200 MB) or
        does not match, or a file is plainly not audio (a Git LFS pointer, a
        web page, a WAV without its header).

    Examples
    --------
    >>> folder = download_mlend("data/mlend")  # doctest: +SKIP
    >>> clips = load_manifest(mlend_manifest(folder))  # doctest: +SKIP
    """
    layout = _layout(subset)
    if urllib.parse.urlsplit(base_url).scheme not in ("http", "https") or not urllib.parse.urlsplit(base_url).netloc:
        raise ParameterError(f"base_url={base_url!r} must be an http:// or https:// address")
    if not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ParameterError(f"timeout={timeout!r} must be a number of seconds > 0")
    if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
        raise ParameterError(f"retries={retries!r} must be an integer >= 0")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    base = base_url.rstrip("/")
    fetch = {"timeout": float(timeout), "retries": retries, "progress": progress}

    attributes = directory / layout.attributes
    _fetch(f"{base}/{urllib.parse.quote(layout.attributes)}", attributes, limit=_MAX_ATTRIBUTES_BYTES, **fetch)
    stories = read_mlend_attributes(attributes)

    audio_dir = directory / layout.audio_dir
    audio_dir.mkdir(exist_ok=True)
    folder_url = f"{base}/{urllib.parse.quote(layout.audio_dir)}"
    for story in tqdm(stories, desc="MLEnd stories", unit="story", disable=not progress):
        _fetch(f"{folder_url}/{urllib.parse.quote(story.filename)}", audio_dir / story.filename,
               expected=story.size, audio=True, **fetch)
    return directory


def mlend_manifest(
    directory: str | os.PathLike,
    *,
    attributes: str | os.PathLike | None = None,
    audio_dir: str | os.PathLike | None = None,
) -> Path:
    """Write ``directory/manifest.csv`` for the MLEnd stories in ``directory``.

    Columns ``path,label,speaker,gender,turns,language``: ``label`` is
    ``deceptive`` for ``deceptive_story`` and ``truthful`` for ``true_story``;
    ``language`` is carried over (``load_manifest`` ignores it). The MLEnd
    attributes name no storyteller, so each story is its own speaker (its file
    stem) unless the CSV has a participant/speaker column; if one person told
    several stories, speaker-grouped splits cannot keep them together.
    ``gender`` is ``unknown`` unless the CSV gives it; ``turns`` is empty (one
    narrator per recording).

    Parameters
    ----------
    directory : path
        The folder :func:`download_mlend` filled; the manifest's paths are
        relative to it.
    attributes : path, optional
        The attributes CSV. By default the one known MLEnd attributes file in
        ``directory``.
    audio_dir : path, optional
        The folder of the listed files. By default the repository's folder
        for that attributes file (``MLEndDD_stories_small`` beside
        ``MLEndDD_story_attributes_small.csv``), else the CSV's own folder.

    Returns
    -------
    Path
        ``directory/manifest.csv``.

    Raises
    ------
    DataError
        No (or more than one) attributes file is found, the CSV is malformed,
        or files it lists are missing (how many, and which, are named).
    """
    directory = Path(directory)
    if attributes is None:
        found = [directory / layout.attributes for layout in MLEND_LAYOUTS.values() if (directory / layout.attributes).is_file()]
        if not found:
            names = ", ".join(layout.attributes for layout in MLEND_LAYOUTS.values())
            raise DataError(f"no MLEnd attributes file ({names}) in {directory}; run `deceptio download mlend {directory}` first")
        if len(found) > 1:
            raise DataError(f"{directory} holds several MLEnd attributes files ({', '.join(p.name for p in found)}); pass attributes=")
        attributes = found[0]
    attributes = Path(attributes)
    stories = read_mlend_attributes(attributes)
    if audio_dir is None:
        layout = next((layout for layout in MLEND_LAYOUTS.values() if layout.attributes == attributes.name), None)
        audio_dir = attributes.parent / layout.audio_dir if layout else attributes.parent
    audio_dir = Path(audio_dir)

    missing = [story.filename for story in stories if not (audio_dir / story.filename).is_file()]
    if missing:
        shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        raise DataError(
            f"{len(missing)} of {len(stories)} stories listed in {attributes.name} are missing from {audio_dir}: {shown}; "
            f"run `deceptio download mlend {directory}` to fetch them"
        )

    manifest = directory / "manifest.csv"
    partial = manifest.with_name(manifest.name + ".part")
    with open(partial, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "speaker", "gender", "turns", "language"])
        for story in stories:
            relative = Path(os.path.relpath(audio_dir / story.filename, directory)).as_posix()
            speaker = story.speaker or PurePosixPath(story.filename).stem
            writer.writerow([relative, story.label, speaker, story.gender, "", story.language])
    partial.replace(manifest)
    return manifest
