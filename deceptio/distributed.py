"""Batch scoring and cross-validation fits on a Ray cluster (local by default), with nothing lost when a worker dies.

Ray is optional (``pip install 'deceptio[ray]'``) and imported only here,
inside the functions: importing deceptio, the Detector or this module loads
no Ray. The work is what the single-machine paths do, dispatched:

- :func:`score_files_on_ray` runs one :class:`~deceptio.serving.detector.Detector`
  per worker CPU as a Ray actor, the same scoring function as the local pool
  (:mod:`deceptio.serving.batch`), into the same resumable CSV.
- :class:`RayFits` is a :class:`~deceptio.training.cv.FitExecutor`: each fit is
  a Ray task that calls the same :func:`~deceptio.training.cv.fold_logits`,
  with the same cache keys, so a cluster run and a local run sharing a cache
  directory reuse each other's fits.

A worker killed mid-task is replaced and its task run again (actor restarts
and task retries); a fit is written to the cache whole or not at all, and a
CSV row only when its recording is done, so a retry duplicates nothing.
Paths (recordings, weights, the cache) are read by the workers: on a
cluster of several machines they must be on storage every node mounts.
"""

from __future__ import annotations

import logging
import os
import re
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from deceptio.audio import AudioConfig
from deceptio.errors import DeceptioError, ParameterError

if TYPE_CHECKING:
    import numpy as np
    from tqdm import tqdm

    from deceptio.training.cv import FitJob

__all__ = ["RayFits", "check_address", "ray_session", "require_ray", "score_files_on_ray"]

LOCAL_OBJECT_STORE_MB = 200  # a local Ray's shared memory: recordings travel as paths, fits' images once per variant
_ADDRESS = re.compile(r"^(auto|(ray://)?[A-Za-z0-9_.\-\[\]:]+:\d+)$")


def require_ray():
    """The ``ray`` module, or a DeceptioError that says how to install it."""
    try:
        import ray
    except ImportError:
        raise DeceptioError("--ray needs Ray, which is not installed: pip install 'deceptio[ray]' "
                            "(or pip install -r requirements-dev.txt)") from None
    return ray


def check_address(address: str | None) -> str | None:
    """``address`` if it reads as a Ray cluster's (``HOST:PORT``, ``ray://HOST:PORT`` or ``auto``), else a ParameterError."""
    if address and not _ADDRESS.match(address):
        raise ParameterError(f"--ray {address!r} is not a Ray cluster address (HOST:PORT, ray://HOST:PORT or auto); "
                             "without an address, put --ray after the recordings")
    return address or None


@contextmanager
def ray_session(address: str | None = None, *, num_cpus: int | None = None,
                object_store_mb: int = LOCAL_OBJECT_STORE_MB) -> Iterator:
    """Ray for the ``with`` block: join the cluster at ``address``, or start a local one; yields the ``ray`` module.

    Without an address, ``$RAY_ADDRESS`` is joined when set (as Ray's own
    tools do, and a KubeRay job sets it), else a local Ray starts with
    ``num_cpus`` CPUs (default: this machine's), no dashboard and
    ``object_store_mb`` of shared memory, and stops at the end. Ray's usage
    statistics are switched off (``RAY_USAGE_STATS_ENABLED=0``, unless set).
    If this process is already connected to Ray, that connection is used
    and left open.
    """
    ray = require_ray()
    if ray.is_initialized():
        yield ray
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    address = check_address(address) or os.environ.get("RAY_ADDRESS") or None
    try:
        if address is None:
            if num_cpus is not None and num_cpus < 1:
                raise ParameterError(f"num_cpus={num_cpus} must be >= 1")
            ray.init(address="local", num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False,
                     object_store_memory=object_store_mb * 1024 * 1024, logging_level=logging.WARNING)
        else:
            ray.init(address=address, logging_level=logging.WARNING)
    except ConnectionError as error:
        raise DeceptioError(f"no Ray cluster at {address} ({error}); is it up, and if its head uses token authentication, "
                            "is RAY_AUTH_MODE=token set here with its token (RAY_AUTH_TOKEN or ~/.ray/auth_token)?") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def _cause(error: Exception) -> BaseException:
    """What a Ray task raised (a DeceptioError reads as one line again), or Ray's error if it holds none."""
    cause = getattr(error, "cause", None)
    return cause if isinstance(cause, BaseException) else error


def _cluster_cpus(ray) -> int:
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


class Scorer:
    """One worker's Detector, loaded once; the Ray actor behind :func:`score_files_on_ray` (process title ``ray::Scorer``)."""

    def __init__(self, weights: str, variant: str, audio_config: AudioConfig, threads: int) -> None:
        from deceptio.serving import batch

        batch._init(weights, variant, audio_config, threads)
        self._score = batch._score

    def score(self, path: str) -> dict:
        return self._score(Path(path))


def score_files_on_ray(
    files: list[Path],
    out_csv: Path,
    *,
    weights: str | Path,
    variant: str = "ensemble",
    audio_config: AudioConfig | None = None,
    address: str | None = None,
    workers: int | None = None,
    progress: bool = True,
    max_restarts: int = 3,
) -> int:
    """:func:`deceptio.serving.batch.score_files` on Ray: the same rows, into the same resumable CSV; returns how many failed.

    ``workers`` Detector actors (default: one per CPU of the cluster, at most
    that many) each hold 1 CPU and score with 1 thread, as the local pool does with
    a worker per core. Each actor has at most two recordings queued, so the work in
    flight is bounded however long the list. A killed actor restarts (up to
    ``max_restarts`` times) and its recordings are run again (then once more on a
    fresh actor); a recording whose worker dies every time gets a row with that in
    ``error``, which a resumed run tries again. See :func:`ray_session` for ``address``.
    """
    from tqdm.auto import tqdm

    from deceptio.serving.batch import ResultsCSV

    if workers is not None and workers < 1:
        raise ParameterError(f"workers={workers} must be >= 1")
    require_ray()  # before the CSV is touched
    results = ResultsCSV(out_csv, files, variant=variant)
    bar = tqdm(total=len(results.files), initial=results.skipped, desc="analyze (ray)", unit="file", disable=not progress)
    with results:
        try:
            if results.todo:
                with ray_session(address, num_cpus=workers) as ray:
                    _score_on_actors(ray, results, bar, weights=str(Path(weights).resolve()), variant=variant,
                                     audio_config=audio_config or AudioConfig(), workers=workers, max_restarts=max_restarts)
        finally:
            bar.close()
    return results.finish()


def _score_on_actors(ray, results, bar: tqdm, *, weights: str, variant: str, audio_config: AudioConfig,
                     workers: int | None, max_restarts: int) -> None:
    from deceptio.serving.batch import WORKER_DIED

    remote = ray.remote(num_cpus=1, max_restarts=max_restarts, max_task_retries=max_restarts)(Scorer)
    count = min(workers or _cluster_cpus(ray), _cluster_cpus(ray), len(results.todo))  # more would wait for CPUs forever
    queue = deque((str(path), str(Path(path).resolve()), 0) for path in results.todo)
    pending: dict = {}  # ref -> (actor, (name, absolute path, deaths))

    def submit(actor) -> None:
        if queue:
            item = queue.popleft()
            pending[actor.score.remote(item[1])] = (actor, item)

    for _ in range(count):
        actor = remote.remote(weights, variant, audio_config, 1)
        submit(actor)
        submit(actor)
    while pending:
        (ready,), _ = ray.wait(list(pending), num_returns=1)
        actor, (name, path, deaths) = pending.pop(ready)
        try:
            row = ray.get(ready)
        except ray.exceptions.RayActorError as error:  # restarts used up: a new actor, and this recording once more
            actor = remote.remote(weights, variant, audio_config, 1)
            if deaths < 1:
                queue.appendleft((name, path, deaths + 1))
                submit(actor)
                continue
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            row = {"file": name, "error": f"{WORKER_DIED} while analysing it, on every retry ({reason})"}
        except ray.exceptions.RayTaskError as error:  # a bug, not a refusal: as the local pool, raise it
            raise _cause(error) from None
        row["file"] = name  # the path as given, not the absolute one the worker read
        results.add(row)
        bar.update()
        submit(actor)


def fit_fold(job: FitJob, images, data, cache_dir: str | None, threads: int) -> tuple[np.ndarray, bool]:
    """One fit on a Ray worker (process title ``ray::fit_fold``): :func:`~deceptio.training.cv.fold_logits` on torch's share of CPUs."""
    import torch

    from deceptio.training.cv import fold_logits

    torch.set_num_threads(threads)
    return fold_logits(job.variant, images, data, job.train, job.test, job.fit_seed, model_config=job.model_config,
                       train_config=job.train_config, inputs=job.inputs,
                       cache_dir=Path(cache_dir) if cache_dir is not None else None)


class RayFits:
    """A :class:`~deceptio.training.cv.FitExecutor` that runs each fit as a Ray task; use it inside :func:`ray_session`.

    Each task holds ``threads_per_fit`` CPUs and trains with as many torch
    threads. By default that is what a local run in this process would use
    (``torch.get_num_threads()``), because a fit's result depends on it: the
    thread count changes how sums are split, and twelve epochs carry that
    float rounding into logits that differ by tenths (the same clips, seed
    and cache key). With the default the figures equal this machine's local
    run; fewer threads per fit run more fits at once and give figures that
    differ by that training noise (the fold cache holds whichever was made first).

    Images and clips go into Ray's object store once per list, not once per
    fit (the clips without their features: a fit reads their ids, labels and
    genders only). At most ``in_flight`` tasks are submitted at a time
    (default: twice what the cluster can run at once). A task whose worker
    dies is run again, up to ``max_retries`` times; an error inside a fit is raised here.

    >>> with ray_session("10.0.0.5:6379"):                                          # doctest: +SKIP
    ...     report = cross_validate(data, variants=("prosody",), executor=RayFits())
    """

    def __init__(self, *, threads_per_fit: int | None = None, in_flight: int | None = None, max_retries: int = 3) -> None:
        if (threads_per_fit is not None and threads_per_fit < 1) or (in_flight is not None and in_flight < 1) or max_retries < 0:
            raise ParameterError(f"threads_per_fit={threads_per_fit} and in_flight={in_flight} must be >= 1, "
                                 f"max_retries={max_retries} >= 0")
        self.threads_per_fit, self.in_flight, self.max_retries = threads_per_fit, in_flight, max_retries

    def __call__(self, jobs: Sequence[FitJob], *, cache_dir: Path | None, bar: tqdm) -> list[tuple[np.ndarray, bool]]:
        ray = require_ray()
        if not ray.is_initialized():
            raise ParameterError("RayFits runs inside `with ray_session(...)`: Ray is not connected")
        threads = self.threads_per_fit
        if threads is None:
            import torch

            threads = torch.get_num_threads()
        largest = max((node["Resources"].get("CPU", 0) for node in ray.nodes() if node.get("Alive")), default=0)
        if threads > largest:  # such a task would wait for a node forever
            raise ParameterError(f"each fit asks for {threads} CPUs (torch threads, as many as a local run here uses) "
                                 f"but the cluster's largest node has {largest:g}: pass --ray-threads {max(1, int(largest))} "
                                 "(the figures then differ from a local run's by training noise)")
        task = ray.remote(num_cpus=threads, max_retries=self.max_retries, retry_exceptions=False)(fit_fold)
        shared: dict[int, object] = {}  # id of a job's list -> its object ref, put once

        def put(items, light=False):
            if id(items) not in shared:
                shared[id(items)] = ray.put([replace(item, features={}) for item in items] if light else items)
            return shared[id(items)]

        cache = str(Path(cache_dir).resolve()) if cache_dir is not None else None
        limit = self.in_flight or 2 * max(1, _cluster_cpus(ray) // threads)
        results: list = [None] * len(jobs)
        waiting, pending = deque(range(len(jobs))), {}
        while waiting or pending:
            while waiting and len(pending) < limit:
                i = waiting.popleft()
                job = jobs[i]
                bare = replace(job, images=[], data=[])  # the lists travel by reference, beside it
                pending[task.remote(bare, put(job.images), put(job.data, light=True), cache, threads)] = i
            (ready,), _ = ray.wait(list(pending), num_returns=1)
            i = pending.pop(ready)
            try:
                results[i] = ray.get(ready)
            except ray.exceptions.RayTaskError as error:
                raise _cause(error) from None
            except ray.exceptions.RayError as error:  # its worker died on every try
                raise DeceptioError(f"fit {jobs[i].label or i} failed {self.max_retries + 1} times on Ray: "
                                    f"{str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__}") from None
            bar.set_postfix_str(f"{len(pending)} running on Ray")
            bar.update()
        return results
