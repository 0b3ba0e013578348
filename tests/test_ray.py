"""Batch scoring and cross-validation on Ray: a local head on 127.0.0.1 with two worker CPUs, the same results as the
local paths, runs that resume, and nothing lost or doubled when a worker is killed in the middle of its task."""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import soundfile as sf
from conftest import REPO, WEIGHTS, synthetic_speech

from deceptio.synthetic import synthetic_corpus

pytestmark = pytest.mark.slow

HAS_RAY = importlib.util.find_spec("ray") is not None
NO_RAY = "ray is not installed: pip install 'deceptio[ray]' (CI installs it from requirements-dev.txt)"
EVALUATE = ["--variants", "prosody", "--folds", "2", "--repeats", "1", "--set", "train.epochs=1", "model.width=4"]
# The head without token authentication (Ray turns it on when ~/.ray/auth_token exists, and a driver given an address
# sends no token): it listens on 127.0.0.1 only and lives for this module.
ENV = {**{k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AUTH_MODE")}, "RAY_USAGE_STATS_ENABLED": "0"}
HEAD_ENV = {**ENV, "RAY_AUTH_MODE": "disabled"}
# A fit's result depends on its torch threads (float rounding that training carries on), and `evaluate --ray` gives each
# fit as many as the local run of the driver uses: one in these tests, so that two fits run at once on the head.
FIT_ENV = {**ENV, "OMP_NUM_THREADS": "1"}


def run_cli(*args: str, timeout: float = 240, env: dict = ENV) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "deceptio.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env=env, check=False)


def start_cli(*args: str, env: dict = ENV) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "deceptio.cli", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=REPO, env=env)


# ---------------------------------------------------------------- the head and its processes


@dataclass(frozen=True)
class Head:
    address: str
    temp: Path  # the head's --temp-dir: every process of this cluster names it, or is the child of one that does


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def _processes_of(head: Head, title: str = "") -> list[int]:
    """This cluster's processes (workers included: their parent, the raylet, names the temp dir) whose title starts with ``title``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        pid = int(entry.name)
        line = _cmdline(pid)
        if line.startswith(title) and (str(head.temp) in line or str(head.temp) in _cmdline(_parent(pid))):
            found.append(pid)
    return found


# Starts the head as this process's child that gets SIGTERM (a clean stop) if pytest dies, say killed by its timeout:
# PR_SET_PDEATHSIG, which survives the exec into `ray start`.
_DIE_WITH_PARENT = ("import ctypes, os, signal, sys\n"
                    "try:\n    ctypes.CDLL('libc.so.6').prctl(1, signal.SIGTERM)\nexcept OSError:\n    pass\n"
                    "os.execv(sys.argv[1], sys.argv[1:])")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def head():
    if not HAS_RAY:
        pytest.skip(NO_RAY)
    ray_cli = Path(sys.executable).with_name("ray")
    # A short temp dir: Ray's unix sockets live under it, and their paths may not pass 107 bytes.
    temp = Path(tempfile.mkdtemp(prefix="dray-", dir="/tmp"))
    port = _free_port()
    log = (temp / "head.log").open("w")  # closed in the finally below, after the head
    # --block: the head lives as this one process, stopped by its pid (no `ray stop`, which would stop every
    # Ray on the machine, other people's too).
    process = subprocess.Popen(
        [sys.executable, "-c", _DIE_WITH_PARENT, str(ray_cli), "start", "--head", "--block", "--node-ip-address=127.0.0.1",
         f"--port={port}", "--num-cpus=2", "--include-dashboard=false", f"--temp-dir={temp}",
         "--object-store-memory=150000000", "--disable-usage-stats"],
        stdout=log, stderr=subprocess.STDOUT, env=HEAD_ENV, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (temp / "ray_current_cluster").is_file():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Ray head did not start:\n{(temp / 'head.log').read_text()[-3000:]}")
            time.sleep(0.2)
        yield Head(address=f"127.0.0.1:{port}", temp=temp)
    finally:
        process.terminate()
        try:
            process.wait(timeout=45)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)
        time.sleep(0.5)
        for pid in _processes_of(Head("", temp)):  # whatever outlived its head
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        log.close()
        shutil.rmtree(temp, ignore_errors=True)


def _kill_one_while_busy(process: subprocess.Popen, head: Head, title: str, timeout: float = 180) -> int:
    """Wait until a worker of ``head`` runs ``title`` (its process title) for ``process``, SIGKILL it; its pid."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        busy = _processes_of(head, title)
        if busy:
            os.kill(busy[0], signal.SIGKILL)
            return busy[0]
        time.sleep(0.02)
    out, err = process.communicate(timeout=30) if process.poll() is not None else ("", "")
    pytest.fail(f"no worker ran {title!r} before the run ended or {timeout} s passed:\n{out[-2000:]}\n{err[-2000:]}")


# ---------------------------------------------------------------- data


@pytest.fixture(scope="module")
def stories(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stories")
    for i in range(4):
        sf.write(folder / f"story{i}.wav", synthetic_speech(6.0 + 2 * i, seed=i), 16000)
    (folder / "broken.wav").write_bytes(b"RIFF....WAVEfmt junk")
    sf.write(folder / "silence.wav", [0.0] * 16000 * 5, 16000)
    return folder


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return synthetic_corpus(tmp_path_factory.mktemp("corpus"))


def _rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def assert_same_rows(rows: list[dict], reference: list[dict], tolerance: float = 1e-6) -> None:
    assert [r["file"] for r in rows] == [r["file"] for r in reference]
    for row, ref in zip(rows, reference):
        assert {k: v for k, v in row.items() if k != "p_deceptive"} == {k: v for k, v in ref.items() if k != "p_deceptive"}
        if ref["p_deceptive"]:
            assert abs(float(row["p_deceptive"]) - float(ref["p_deceptive"])) <= tolerance, (row, ref)


def report_differences(a: dict, b: dict, path: tuple = ()) -> tuple[float, list]:
    """The largest difference between two reports' numbers, and what differs otherwise (wall times left out)."""
    if path in (("protocol", "fits", "wall_s"),):
        return 0.0, []
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return 0.0, [(path, sorted(set(a) ^ set(b)))]
        parts = [report_differences(a[k], b[k], (*path, k)) for k in a]
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return 0.0, [(path, len(a), len(b))]
        parts = [report_differences(x, y, (*path, i)) for i, (x, y) in enumerate(zip(a, b))]
    elif isinstance(a, float | int) and isinstance(b, float | int) and not isinstance(a, bool):
        if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
            return 0.0, []
        return abs(a - b), []
    else:
        return 0.0, [] if a == b else [(path, a, b)]
    return max((p[0] for p in parts), default=0.0), [d for p in parts for d in p[1]]


def _fold_files(cache: Path) -> dict[str, int]:
    return {path.name: path.stat().st_mtime_ns for path in (cache / "cv").glob("*.npy") if ".partial" not in path.name}


# ---------------------------------------------------------------- without Ray


@pytest.mark.timeout(120)
def test_importing_deceptio_the_detector_and_batch_scoring_loads_no_ray():
    code = ("import sys, deceptio, deceptio.cli, deceptio.distributed, deceptio.serving.batch\n"
            "from deceptio.serving.detector import Detector\n"
            f"Detector({str(WEIGHTS)!r}, variants=('prosody',))\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'ray'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=100, cwd=REPO, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    serving = (REPO / "requirements.txt").read_text().lower()
    assert "ray" not in {line.split("=")[0].strip() for line in serving.splitlines()}


@pytest.mark.timeout(120)
def test_ray_flag_without_ray_installed_is_one_line_that_says_how_to_install_it(stories, corpus, tmp_path):
    hide = "import sys; sys.modules['ray'] = None\nfrom deceptio.cli import main\nsys.exit(main(sys.argv[1:]))"
    for args in (["analyze", str(stories), "--csv", str(tmp_path / "out.csv"), "--ray"],
                 ["evaluate", "--data", str(corpus), "--cache-dir", str(tmp_path / "cache"), "--ray", *EVALUATE]):
        done = subprocess.run([sys.executable, "-c", hide, *args], capture_output=True, text=True, timeout=100,
                              cwd=REPO, env=ENV, check=False)
        assert done.returncode == 2, done.stderr
        assert done.stderr.strip().count("\n") == 0 and "Traceback" not in done.stderr
        assert "pip install 'deceptio[ray]'" in done.stderr
    assert not (tmp_path / "cache").exists() and not (tmp_path / "out.csv").exists()  # refused before any work


# ---------------------------------------------------------------- batch scoring


@pytest.mark.timeout(400)
def test_analyze_on_ray_gives_the_local_pool_rows_and_either_path_resumes_the_others_csv(head, stories, tmp_path):
    local, on_ray = tmp_path / "local.csv", tmp_path / "ray.csv"
    done = run_cli("analyze", str(stories), "--csv", str(local), "--workers", "2")
    assert done.returncode == 2, done.stderr  # two recordings are refused
    done = run_cli("analyze", str(stories), "--csv", str(on_ray), "--ray", head.address)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "4 of 6 recordings analysed" in done.stdout
    reference = _rows(local)
    assert [Path(r["file"]).name for r in reference] == ["broken.wav", "silence.wav", *(f"story{i}.wav" for i in range(4))]
    assert_same_rows(_rows(on_ray), reference)
    refusals = [r["error"] for r in _rows(on_ray) if r["error"]]
    assert len(refusals) == 2 and all("\n" not in e and "Traceback" not in e for e in refusals)

    # An interrupted run: two rows kept (one marked, so a rescore would show), and a line cut short by the kill.
    for resumer in (["--ray", head.address], ["--workers", "2"]):
        partial = tmp_path / f"partial{len(resumer)}.csv"
        kept = [dict(reference[0]), {**reference[2], "verdict": "kept"}]
        with open(partial, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(reference[0]))
            writer.writeheader()
            writer.writerows(kept)
            handle.write(reference[3]["file"] + ",incon")
        done = run_cli("analyze", str(stories), "--csv", str(partial), *resumer)
        assert done.returncode == 2, done.stderr
        assert "(2 already in the CSV, not scored again)" in done.stdout
        rows = _rows(partial)
        assert rows[2]["verdict"] == "kept"  # not scored again
        assert_same_rows([r if r is not rows[2] else {**r, "verdict": reference[2]["verdict"]} for r in rows], reference)


@pytest.mark.timeout(400)
def test_a_scoring_worker_killed_mid_recording_is_restarted_and_the_csv_is_complete_without_duplicates(head, tmp_path):
    folder = tmp_path / "long"
    folder.mkdir()
    for i in range(6):
        sf.write(folder / f"long{i}.wav", synthetic_speech(60.0, f0=120 + 10 * i, seed=20 + i), 16000)
    local, on_ray = tmp_path / "local.csv", tmp_path / "ray.csv"
    assert run_cli("analyze", str(folder), "--csv", str(local), "--workers", "2").returncode == 0
    process = start_cli("analyze", str(folder), "--csv", str(on_ray), "--ray", head.address, "--variant", "ensemble")
    try:
        killed = _kill_one_while_busy(process, head, "ray::Scorer.score")
        out, err = process.communicate(timeout=300)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert not Path(f"/proc/{killed}").exists()
    rows = _rows(on_ray)
    assert len({r["file"] for r in rows}) == len(rows) == 6
    assert_same_rows(rows, _rows(local))
    assert "6 of 6 recordings analysed" in out


# ---------------------------------------------------------------- cross-validation


@pytest.fixture(scope="module")
def evaluations(head, corpus, tmp_path_factory):
    """The same small evaluation locally (fold cache A) and on the head (fold cache B), each from nothing."""
    root = tmp_path_factory.mktemp("evaluations")
    for name, extra in (("local", []), ("ray", ["--ray", head.address])):
        done = run_cli("evaluate", "--data", str(corpus), *EVALUATE, "--cache-dir", str(root / f"cache-{name}"),
                       "--report-dir", str(root / name), *extra, env=FIT_ENV)
        assert done.returncode == 0, done.stderr
    return root


def _report(folder: Path) -> dict:
    return json.loads((folder / "cv_report.json").read_text())


@pytest.mark.timeout(400)
def test_evaluate_on_ray_equals_the_local_run_and_each_reuses_the_others_fold_cache(evaluations, head, corpus):
    local, on_ray = _report(evaluations / "local"), _report(evaluations / "ray")
    largest, other = report_differences(local, on_ray)
    assert other == [] and largest < 1e-6
    assert on_ray["methods"]["prosody"]["metrics"]["auc"]["values"] == local["methods"]["prosody"]["metrics"]["auc"]["values"]
    fits_local, fits_ray = _fold_files(evaluations / "cache-local"), _fold_files(evaluations / "cache-ray")
    assert set(fits_local) == set(fits_ray) and len(fits_local) == 2  # the same keys
    # Ray on the local run's cache and the local run on Ray's: nothing is fitted again, the figures are the cache's.
    for cache, extra, reference in (("cache-local", ["--ray", head.address], local), ("cache-ray", [], on_ray)):
        before = _fold_files(evaluations / cache)
        done = run_cli("evaluate", "--data", str(corpus), *EVALUATE, "--cache-dir", str(evaluations / cache),
                       "--report-dir", str(evaluations / f"again-{cache}"), *extra, env=FIT_ENV)
        assert done.returncode == 0, done.stderr
        assert _fold_files(evaluations / cache) == before
        assert report_differences(_report(evaluations / f"again-{cache}"), reference) == (0.0, [])


@pytest.mark.timeout(400)
def test_nested_evaluation_on_ray_equals_the_local_one(head, corpus):
    import torch

    from deceptio.distributed import RayFits, ray_session
    from deceptio.modeling.card import ModelInput
    from deceptio.modeling.models import ModelConfig
    from deceptio.training.cv import CVConfig
    from deceptio.training.data import extract_dataset, load_dataset
    from deceptio.training.nested import GRID, nested_cross_validate
    from deceptio.training.train import TrainConfig

    inputs = ModelInput()
    data = extract_dataset(load_dataset(corpus), feature_config=inputs.features, vad_config=inputs.vad, cache_dir=None,
                           progress=False)
    # The grid without its pretraining configuration: that one reads EmoDB, which Ray's workers would each prepare.
    grid = tuple(c for c in GRID if not c.train.get("pretrain_epochs"))
    settings = {"variants": ("prosody",), "cv": CVConfig(folds=2, repeats=1), "inner_folds": 2, "grid": grid,
                "model_config": ModelConfig(width=4), "train_config": TrainConfig(epochs=1), "inputs": inputs,
                "cache_dir": None, "progress": False}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # what RayFits gives each fit by default: this process's count
    try:
        local = nested_cross_validate(data, **settings)
        with ray_session(head.address):
            on_ray = nested_cross_validate(data, executor=RayFits(), **settings)
    finally:
        torch.set_num_threads(threads)
    # 2 outer folds x (the configurations x 2 inner folds + 1 refit), and the inner CV on all clips that picks what ships
    assert on_ray["protocol"]["fits"]["done"] == local["protocol"]["fits"]["done"] == 2 * (len(grid) * 2 + 1) + len(grid) * 2
    assert on_ray["protocol"]["picks"] == local["protocol"]["picks"]
    assert on_ray["protocol"]["shipped"] == local["protocol"]["shipped"]
    largest, other = report_differences(local, on_ray)
    assert other == [] and largest < 1e-6


@pytest.mark.timeout(400)
def test_a_fit_worker_killed_mid_fit_is_retried_and_the_report_equals_an_undisturbed_run(evaluations, head, corpus):
    cache = evaluations / "cache-killed"
    process = start_cli("evaluate", "--data", str(corpus), *EVALUATE, "--cache-dir", str(cache),
                        "--report-dir", str(evaluations / "killed"), "--ray", head.address, env=FIT_ENV)
    try:
        _kill_one_while_busy(process, head, "ray::fit_fold")
        _, err = process.communicate(timeout=300)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert set(_fold_files(cache)) == set(_fold_files(evaluations / "cache-ray"))
    assert report_differences(_report(evaluations / "killed"), _report(evaluations / "ray")) == (0.0, [])


@pytest.mark.timeout(300)
def test_fits_that_no_node_of_the_cluster_can_hold_are_refused_in_one_line_not_left_waiting(head, corpus, tmp_path):
    done = run_cli("evaluate", "--data", str(corpus), *EVALUATE, "--cache-dir", str(tmp_path / "cache"),
                   "--report-dir", str(tmp_path / "report"), "--ray", head.address, "--ray-threads", "3", timeout=200)
    assert done.returncode == 2, done.stderr
    assert "the cluster's largest node has 2" in done.stderr and "--ray-threads 2" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "cache" / "cv").exists()
