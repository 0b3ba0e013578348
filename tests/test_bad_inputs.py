"""Every bad or odd recording of a public demo, through the library, the CLI and the running app's API.

Each kind (``tests/bad_inputs.py``) must get a verdict or a clear refusal in
each channel: the library raises a ``DeceptioError`` with the expected word;
``deceptio analyze`` exits 2 with exactly one line on stderr (or 0 with a
verdict); the app, called with ``gradio_client`` on 127.0.0.1, answers with
the refusal's message itself, on the page in place of a verdict. No call may take more than 30 s, and no
channel may leave a temporary file behind.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from bad_inputs import KINDS, OK, REPO, UPLOAD_CAP_MB, WEIGHTS, BadInput, build_bad_inputs, running_app

from deceptio.errors import DeceptioError
from deceptio.serving.detector import VERDICTS, Detector

pytestmark = pytest.mark.slow

CALL_TIMEOUT_S = 30.0  # "never a hang past 30 s", per call and per channel
CLI_WORKERS = 2  # CI has two cores; each CLI call spends ~5 s importing torch
REFUSAL_TITLE = "### Cannot analyse this recording"  # app.py's ERROR_TITLE: the page's answer instead of a verdict


@dataclass(frozen=True)
class Outcome:
    """What one channel answered for one input: a verdict, or a refusal's message."""

    verdict: str | None
    message: str
    seconds: float
    detail: str = ""  # channel-specific evidence: exit code and stderr, exception type, HTTP status
    code: int | None = None  # the CLI's exit status

    @property
    def refused(self) -> bool:
        return self.verdict is None


@dataclass(frozen=True)
class ChannelRun:
    """Every kind through one channel, and the files it left in its own temp folder."""

    results: dict[str, Outcome]
    leftover_files: set[Path]
    cwd: Path | None = None  # the working folder of its processes, if any


def _files(folder: Path) -> set[Path]:
    """Regular files under ``folder`` (torch leaves an empty ``torchinductor_<user>`` folder in TMPDIR)."""
    return {path for path in folder.rglob("*") if path.is_file()}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> list[BadInput]:
    return build_bad_inputs(tmp_path_factory.mktemp("bad-inputs"))


def _case(inputs: list[BadInput], kind: str) -> BadInput:
    return next(case for case in inputs if case.kind == kind)


# --- the three channels ------------------------------------------------------


@pytest.fixture(scope="module")
def library(inputs, tmp_path_factory) -> ChannelRun:
    """``Detector.analyze`` on every kind in this process, with ``tempfile`` pointed at an empty folder."""
    detector = Detector(WEIGHTS)
    scratch = tmp_path_factory.mktemp("library-tmp")
    results = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TMPDIR", str(scratch))
        patch.setattr(tempfile, "tempdir", str(scratch))
        for case in inputs:
            started = time.perf_counter()
            try:
                analysis = detector.analyze(case.path)
            except DeceptioError as error:
                results[case.kind] = Outcome(None, str(error), time.perf_counter() - started, type(error).__name__)
            else:
                results[case.kind] = Outcome(analysis.verdict, "", time.perf_counter() - started)
    return ChannelRun(results, _files(scratch))


def _run_cli(case: BadInput, cwd: Path, env: dict[str, str]) -> Outcome:
    started = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-m", "deceptio.cli", "analyze", str(case.path), "--json"],
                              capture_output=True, text=True, timeout=CALL_TIMEOUT_S, cwd=cwd, env=env, check=False)
    except subprocess.TimeoutExpired:
        return Outcome(None, "", CALL_TIMEOUT_S, f"no answer within {CALL_TIMEOUT_S:.0f} s")
    seconds = time.perf_counter() - started
    detail = f"exit {done.returncode}; stderr: {done.stderr!r}; stdout: {done.stdout[:200]!r}"
    if done.returncode == 2 and done.stdout:
        detail += "; printed a result as well as refusing"
    if done.returncode == 0:
        try:
            verdict = json.loads(done.stdout)["verdict"]
        except (ValueError, KeyError):
            verdict = "unreadable output"
        return Outcome(verdict, "", seconds, detail, done.returncode)
    return Outcome(None, done.stderr.strip(), seconds, detail, done.returncode)


@pytest.fixture(scope="module")
def cli(inputs, tmp_path_factory) -> ChannelRun:
    """``deceptio analyze FILE --json`` for every kind, two at a time, each in an empty TMPDIR and working folder."""
    scratch, cwd = tmp_path_factory.mktemp("cli-tmp"), tmp_path_factory.mktemp("cli-cwd")
    env = {**os.environ, "TMPDIR": str(scratch)}
    with ThreadPoolExecutor(CLI_WORKERS) as pool:
        futures = {case.kind: pool.submit(_run_cli, case, cwd, env) for case in inputs}
    return ChannelRun({kind: future.result() for kind, future in futures.items()}, _files(scratch), cwd)


@dataclass(frozen=True)
class AppRun:
    """Every kind through the running app, what it left on disk, and its log."""

    results: dict[str, Outcome]
    server_tmp_files: set[Path]  # files in the server's TMPDIR after every call
    upload_files_before_oversize: int  # files in GRADIO_TEMP_DIR before and after the refused upload
    upload_files_after_oversize: int
    upload_files_after_shutdown: set[Path]  # after a graceful stop (Ctrl-C)
    cwd: Path
    log: str


def _call_app(client, case: BadInput) -> Outcome:
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    started = time.perf_counter()
    job = client.submit(handle_file(str(case.path)), "ensemble", api_name="/analyze")
    try:
        verdict_markdown = job.result(timeout=CALL_TIMEOUT_S)[0]
    except AppError as error:
        return Outcome(None, error.message, time.perf_counter() - started, f"AppError title={error.title!r}")
    except TimeoutError:
        job.cancel()
        return Outcome(None, "", CALL_TIMEOUT_S, f"no answer within {CALL_TIMEOUT_S:.0f} s")
    except Exception as error:  # anything else is a generic failure: recorded, and the test fails on it
        return Outcome(None, str(error), time.perf_counter() - started, f"{type(error).__name__}")
    if verdict_markdown.startswith(REFUSAL_TITLE):  # the reason, kept on the page where the verdict would be
        reason = verdict_markdown.removeprefix(REFUSAL_TITLE).strip().split("\n\n")[0]
        return Outcome(None, reason, time.perf_counter() - started, "refused on the page")
    found = [verdict for verdict in VERDICTS if re.search(rf"(Verdict|Lean): {verdict}\b", verdict_markdown)]
    return Outcome(found[0] if found else "no verdict on the page", "", time.perf_counter() - started)


def _post_upload(url: str, case: BadInput) -> Outcome:
    """Send a file straight to the server's upload route, past gradio_client's own size check."""
    import httpx

    started = time.perf_counter()
    with open(case.path, "rb") as handle:
        response = httpx.post(url + "gradio_api/upload", files={"files": (case.path.name, handle)},
                              timeout=CALL_TIMEOUT_S)
    seconds = time.perf_counter() - started
    if response.status_code == 200:
        return Outcome("uploaded", "", seconds, f"HTTP 200: {response.text[:200]}")
    return Outcome(None, response.text.strip(), seconds, f"HTTP {response.status_code}")


@pytest.fixture(scope="module")
def app(inputs, tmp_path_factory) -> AppRun:
    """One ``app.py`` on a free loopback port: every kind through its API, then a graceful stop."""
    from gradio_client import Client

    with running_app(tmp_path_factory.mktemp("app"), "--max-file-mb", str(UPLOAD_CAP_MB)) as server:
        client = Client(server.url, verbose=False, download_files=False)
        results, before, after = {}, 0, 0
        for case in inputs:
            if case.upload_expect is not None:
                before = len(_files(server.gradio_tmpdir))
                results[case.kind] = _post_upload(server.url, case)
                after = len(_files(server.gradio_tmpdir))
            else:
                results[case.kind] = _call_app(client, case)
        server_tmp = _files(server.tmpdir)
        # Ctrl-C, as an operator stops it: Gradio then deletes the uploads it kept (app.py's delete_cache).
        server.process.send_signal(signal.SIGINT)
        try:
            server.process.wait(timeout=90)  # a runner busy with other jobs can take a while to wind Gradio down
        except subprocess.TimeoutExpired:
            pass
        return AppRun(results, server_tmp, before, after, _files(server.gradio_tmpdir), server.cwd, server.log.read_text())


# --- the checks --------------------------------------------------------------


def _check(case: BadInput, outcome: Outcome, expect: str) -> None:
    assert outcome.seconds < CALL_TIMEOUT_S, f"{case.kind}: {outcome.seconds:.1f} s ({outcome.detail})"
    assert "Traceback" not in outcome.message and "Traceback" not in outcome.detail, outcome.detail
    if expect == OK:
        assert outcome.verdict in VERDICTS, f"{case.kind}: expected a verdict, got {outcome.message!r} ({outcome.detail})"
    else:
        assert outcome.refused, f"{case.kind}: expected a refusal with {expect!r}, got verdict {outcome.verdict!r}"
        assert expect.lower() in outcome.message.lower(), f"{case.kind}: {outcome.message!r} ({outcome.detail})"


@pytest.mark.parametrize("kind", KINDS)
def test_library_gives_a_verdict_or_a_deceptio_error(inputs, library, kind):
    case = _case(inputs, kind)
    _check(case, library.results[kind], case.expect)


@pytest.mark.parametrize("kind", KINDS)
def test_cli_exits_0_with_a_verdict_or_2_with_one_clear_line(inputs, cli, kind):
    case = _case(inputs, kind)
    outcome = cli.results[kind]
    _check(case, outcome, case.expect)
    if case.refused:
        assert outcome.code == 2, outcome.detail
        lines = outcome.message.splitlines()
        assert len(lines) == 1 and lines[0].startswith("deceptio: error: "), outcome.detail
        assert "printed a result" not in outcome.detail
    else:
        assert outcome.code == 0, outcome.detail


@pytest.mark.parametrize("kind", KINDS)
def test_app_api_gives_a_verdict_or_the_refusal_on_the_page(inputs, app, kind):
    case = _case(inputs, kind)
    outcome = app.results[kind]
    _check(case, outcome, case.upload_expect or case.expect)
    if case.upload_expect is not None:  # refused by the server's upload route, before any analysis
        assert outcome.detail == "HTTP 413", outcome.detail
        assert f"{UPLOAD_CAP_MB * 1_000_000} bytes" in outcome.message
    elif case.refused:
        assert outcome.detail == "refused on the page", outcome.detail


def test_each_refusal_reads_the_same_in_every_channel(inputs, library, cli, app):
    refused = [case for case in inputs if case.refused]
    assert len(refused) >= 10
    for case in refused:
        message = library.results[case.kind].message
        assert cli.results[case.kind].message == f"deceptio: error: {message}", case.kind
        if case.upload_expect is None:  # the upload cap answers before the library sees the file
            assert app.results[case.kind].message == message, case.kind


def test_every_kind_was_built_with_its_file(inputs):
    assert tuple(case.kind for case in inputs) == KINDS and len(KINDS) >= 20
    assert all(case.path.is_file() for case in inputs)


def test_every_kind_got_an_answer_in_every_channel_in_time(inputs, library, cli, app, capsys):
    channels = {"library": library.results, "CLI": cli.results, "app": app.results}
    with capsys.disabled():
        print()
        for name, results in channels.items():
            verdicts = sum(not outcome.refused for outcome in results.values())
            slowest = max(results, key=lambda kind: results[kind].seconds)
            print(f"[bad inputs] {name}: {len(results)} kinds, {verdicts} verdicts, {len(results) - verdicts} refusals; "
                  f"slowest {slowest} {results[slowest].seconds:.1f} s, all {sum(o.seconds for o in results.values()):.0f} s")
    for name, results in channels.items():
        assert list(results) == list(KINDS), name
        assert all(outcome.seconds < CALL_TIMEOUT_S for outcome in results.values()), name


def test_no_temporary_files_are_left_behind(library, cli, app):
    assert library.leftover_files == set(), "the library wrote temporary files"
    assert cli.leftover_files == set(), "deceptio analyze left temporary files"
    assert app.server_tmp_files == set(), "the app left files in its TMPDIR"
    assert app.upload_files_after_oversize == app.upload_files_before_oversize, "a refused upload left a partial file"
    assert app.upload_files_after_shutdown == set(), (
        f"uploads outlived the server: {sorted(path.name for path in app.upload_files_after_shutdown)}; "
        f"its log ends: {app.log[-1500:]}")


def test_no_shell_ever_ran_the_odd_filename(inputs, cli, app):
    for folder in (cli.cwd, app.cwd, REPO, inputs[0].path.parent):
        assert not (folder / "PWNED").exists(), folder


def test_the_server_logged_no_traceback(app):
    assert "Traceback" not in app.log, app.log[-2000:]
