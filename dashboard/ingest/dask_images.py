"""The images recipe's decoding and feature extraction on a Dask distributed cluster (``build images --dask``).

``--dask local:N`` starts N worker processes on this machine for the build; ``--dask tcp://HOST:8786``
uses a running scheduler, whose workers must see the image folder and the data directory at the same
paths as the build (a shared volume) and have this package installed.

The build's process hashes each file and looks up what earlier runs left, exactly as without Dask;
what is missing goes to the workers in batches of ``BATCH`` files. A task decodes its files (each in a
decoding process, under the per-file time limit), writes their images into the build's scratch folder
and runs the model on the batch; each worker process builds the model once and keeps it for every
batch it runs. Results stream back as batches finish and their features go into the feature cache at
once, so an interrupted build resumes; at most ``IN_FLIGHT`` batches per worker thread are queued, so
the cluster holds a few batches at a time, whatever the folder's size. Items, their order, skips, notes and counts are
those of a build without Dask.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import multiprocessing
import os
import re
import tempfile
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext, suppress
from pathlib import Path

import numpy as np
import pebble
from tqdm import tqdm

from .. import cache as cache_mod
from ..compute import features as features_mod
from ..errors import DashboardError
from ..store import DatasetWriter
from . import images

#: Batches queued per worker thread: one running, one waiting, so no worker idles between batches.
IN_FLIGHT = 2
#: Seconds to wait for a scheduler that has no workers yet.
WORKERS_TIMEOUT = 60.0
#: Scheduler address schemes distributed speaks.
SCHEMES = ("tcp", "tls", "ws", "wss")

_LOCAL = re.compile(r"local:(\d+)")
_REMOTE = re.compile(rf"({'|'.join(SCHEMES)})://(\[[0-9A-Fa-f:.]+\]|[^\s/:\[\]]+)(:\d+)?/?")  # IPv6 in brackets


def parse(value: str) -> tuple[str, int | str]:
    """``("local", N)`` for ``local:N``, ``("scheduler", address)`` for ``tcp://HOST:PORT``; else a one-line error."""
    value = value.strip()
    local = _LOCAL.fullmatch(value)
    if local and int(local.group(1)) >= 1:
        return "local", int(local.group(1))
    if _REMOTE.fullmatch(value):
        return "scheduler", value.rstrip("/")
    raise DashboardError(f"--dask must be local:N (N ≥ 1 worker processes on this machine) or "
                         f"tcp://HOST:PORT (a running Dask scheduler), got {value!r}")


def _import_distributed():
    try:
        import distributed
    except ImportError:
        raise DashboardError("--dask needs Dask distributed: pip install 'dashboard[dask]'") from None
    return distributed


@contextmanager
def connect(dask) -> Iterator:
    """A ``distributed.Client`` for a ``--dask`` value (a LocalCluster started and closed here), or the
    ``Client`` given; a scheduler that cannot be reached or has no workers is a one-line error."""
    distributed = _import_distributed()
    if isinstance(dask, distributed.Client):
        yield dask
        return
    kind, arg = parse(dask)
    if kind == "local":
        import dask as dask_mod

        # Workers start a decoding process (pebble): a daemonic process may not have children.
        with dask_mod.config.set({"distributed.worker.daemon": False}):
            # its scheduler's HTTP routes on a free loopback port (not 8787, which another cluster may hold)
            cluster = distributed.LocalCluster(n_workers=arg, threads_per_worker=1, processes=True,
                                               host="127.0.0.1", dashboard_address=None,
                                               scheduler_kwargs={"dashboard": False,
                                                                 "dashboard_address": "127.0.0.1:0"},
                                               silence_logs=logging.CRITICAL)
        try:
            with distributed.Client(cluster) as client:
                client.wait_for_workers(arg)
                try:
                    yield client
                finally:
                    with suppress(Exception):  # our own workers: stopping their decoders speeds their exit
                        client.run(_stop_decoders)
        finally:
            cluster.close()
        return
    try:
        client = distributed.Client(arg)
    except (OSError, TimeoutError) as e:  # refused, unknown host, or the connect timeout
        reason = " ".join(str(e).split()) or type(e).__name__
        raise DashboardError(f"--dask {arg}: cannot reach a Dask scheduler there ({reason})") from None
    with client:
        try:
            client.wait_for_workers(1, timeout=WORKERS_TIMEOUT)
        except (TimeoutError, asyncio.TimeoutError):  # one class from Python 3.11 on
            raise DashboardError(f"--dask {arg}: the scheduler has no workers "
                                 f"(none joined within {WORKERS_TIMEOUT:g} s)") from None
        yield client


def _worker_problem(folder: str, probe: str, scratch: str) -> str | None:
    """On a worker: why it cannot take part in the build (it must see the folder and the scratch), or None."""
    shared = "(the workers must see the image folder and the data directory at the same paths as this machine: " \
             "a shared volume)"
    if not (os.path.isdir(folder) and os.access(probe, os.R_OK)):
        return f"cannot read the image folder {folder} {shared}"
    try:
        fd, tmp = tempfile.mkstemp(dir=scratch, prefix=".probe-")
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        return f"cannot write to the build's folder {scratch} ({e.strerror or e}) {shared}"
    if multiprocessing.current_process().daemon:
        return ("runs as a daemonic process, which cannot start its decoding process: start the workers "
                "with DASK_DISTRIBUTED__WORKER__DAEMON=False")
    return None


def check_workers(client, probe: Path, scratch: Path) -> None:
    """Every worker can read the image folder (``probe``, one of its files) and write to ``scratch``, at
    the same paths as here; else a one-line error that names the first worker that cannot."""
    folder = str(Path(probe).absolute().parent)
    try:
        problems = client.run(_worker_problem, folder, str(Path(probe).absolute()), str(Path(scratch).absolute()))
    except Exception as e:  # noqa: BLE001 - e.g. a worker without this package cannot load the check
        raise DashboardError(f"--dask: the workers cannot run the build's code ({type(e).__name__}: {e}); "
                             "install dashboard, the same version, on every worker") from None
    for address, problem in sorted(problems.items()):
        if problem:
            raise DashboardError(f"--dask: the worker at {address} {problem}")


# -- in a worker process

#: What a worker process builds once and keeps for every batch it runs (the model, the decoding pool).
_WORKER: dict = {}
_WORKER_LOCK = threading.Lock()


def _worker_extractor(spec: dict):
    """The extractor ``spec`` names, built once per worker process (InceptionV3 loads once, not per batch)."""
    key = ("extractor", tuple(sorted(spec.items())))
    with _WORKER_LOCK:
        if key not in _WORKER:
            models_dir = Path(spec["models_dir"]) if spec.get("models_dir") else None
            _WORKER[key] = (features_mod.extractor(**{**spec, "models_dir": models_dir}), threading.Lock())
        return _WORKER[key]


def _worker_decoders() -> pebble.ProcessPool:
    """This worker's decoding processes, one per worker thread, started once.

    Forked from a clean process (:func:`images.decoder_pool`), not from a worker that has loaded
    TensorFlow and runs threads.
    """
    with _WORKER_LOCK:
        if "decoders" not in _WORKER:
            import distributed

            _WORKER["decoders"] = images.decoder_pool(max(1, distributed.get_worker().state.nthreads))
        return _WORKER["decoders"]


def _stop_decoders() -> None:
    with _WORKER_LOCK:
        decoders = _WORKER.pop("decoders", None)
    if decoders is not None:
        decoders.stop()
        decoders.join()


def decode_batch(items: list[tuple], spec: dict, timeout: float) -> tuple[str | None, list[tuple]]:
    """A Dask task: decode a batch of files and run the model on those that need features.

    ``items`` are ``(k, path, web, thumb, marker, wants_features)``; the images go to ``web``/``thumb``
    (the build's scratch folder). Returns the worker's extractor cache id (None when no file needed the
    model) and ``(k, ok, note or reason, features or None)`` per file, in the order given.
    """
    wanted = any(item[5] for item in items)
    extractor = None
    if wanted:
        try:
            extractor, model_lock = _worker_extractor(spec)
        except DashboardError as e:
            import distributed

            raise DashboardError(f"on the Dask worker at {distributed.get_worker().address}: {e}") from None
    decoders = _worker_decoders()
    futures = [decoders.schedule(images._decode_file, args=(path, web, thumb, marker,
                                                            extractor.prepare if wants else None), timeout=timeout)
               for _, path, web, thumb, marker, wants in items]
    decoded = [images.decode_outcome(f, timeout) for f in futures]
    todo = [n for n, ((*_, wants), (ok, _, model_input)) in enumerate(zip(items, decoded))
            if ok and wants and model_input is not None]
    vecs: dict[int, np.ndarray] = {}
    if todo:
        with model_lock:  # one model run at a time per process; the model uses every core itself
            out = extractor.run(np.stack([decoded[n][2] for n in todo]))
        vecs = {n: images.as_features(extractor, v) for n, v in zip(todo, out)}
    outcomes = [(item[0], ok, note, vecs.get(n)) for n, (item, (ok, note, _)) in enumerate(zip(items, decoded))]
    return (extractor.cache_id if wanted else None), outcomes


# -- in the build's process

def stream(client, batches: Iterable[list[tuple]], spec: dict, cache_id: str, timeout: float) -> Iterator[list[tuple]]:
    """Run ``decode_batch`` on each batch, at most IN_FLIGHT per worker thread queued at once; yield each
    batch's outcomes as it finishes (in any order). ``batches`` is read only as slots free up."""
    distributed = _import_distributed()
    threads = sum(w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values())
    batches = iter(batches)
    first: dict = {}

    def submit(batch):
        future = client.submit(decode_batch, batch, spec, timeout, pure=False)
        first[future.key] = batch[0][1]
        return future

    running = distributed.as_completed([submit(b) for b in itertools.islice(batches, IN_FLIGHT * max(1, threads))])
    for done in running:
        try:
            worker_cache_id, outcomes = done.result()
        except distributed.KilledWorker:
            raise DashboardError(f"--dask: Dask workers died running the batch that starts with {first[done.key]} "
                                 "(out of memory?); the build resumes from what finished") from None
        first.pop(done.key, None)
        done.release()
        if worker_cache_id is not None and worker_cache_id != cache_id:
            raise DashboardError(f"--dask: the workers' model differs from this machine's (workers: {worker_cache_id}, "
                                 f"here: {cache_id}): pass --weights FILE on the shared volume")
        yield outcomes
        following = next(batches, None)
        if following is not None:
            running.add(submit(following))


def _spec(model: str, weights: str | None, vectors: str | None, runtime: str = "auto",
          models_dir: Path | None = None) -> dict:
    """What a worker builds its extractor from (paths absolute: workers do not share our working folder).
    ``models_dir``: where converted models are kept (the shared cache), so workers convert once, not each."""
    return {"model": model, "weights": str(Path(weights).expanduser().absolute()) if weights else None,
            "vectors": str(Path(vectors).expanduser().absolute()) if vectors else None, "runtime": runtime,
            "models_dir": str(Path(models_dir).absolute()) if models_dir else None}


def decode_and_extract(w: DatasetWriter, paths: list[Path], names: list[str], extractor, data_dir: Path, *,
                       dask, model: str, weights: str | None = None, vectors: str | None = None,
                       runtime: str = "auto", timeout: float = images.DECODE_TIMEOUT):
    """``images._decode_and_extract`` on a Dask cluster: the same results, the decoding and the model on the
    workers. Returns the positions of the files kept, their features, per-file notes and content keys."""
    scratch = images.prepare_scratch(w)
    spec = _spec(model, weights, vectors, runtime, cache_mod.cache_dir(data_dir) / "models")
    # per file: ("skip", reason) or (key, note, cached features, features from the model)
    results: list = [None] * len(paths)
    with connect(dask) as client, cache_mod.open_cache(data_dir) as cache:
        check_workers(client, paths[0], scratch)
        bar = tqdm(total=len(paths), desc="images", unit="img", leave=False)

        def batches() -> Iterator[list[tuple]]:
            batch: list[tuple] = []
            with ThreadPoolExecutor(max_workers=4) as threads:  # hashing reads files: threads overlap it
                # a chunk at a time, so nothing is left running when the build stops
                for a in range(0, len(paths), images.BATCH):
                    chunk = range(a, min(a + images.BATCH, len(paths)))
                    looked = threads.map(lambda k: images.look_up(k, paths[k], extractor, cache, scratch), chunk)
                    for k, (ok, note, cached, key, decoded) in zip(chunk, list(looked)):
                        if not ok or (decoded and cached is not None):
                            results[k] = (key, note, cached, None) if ok else ("skip", note)
                            bar.update(1)
                            continue
                        results[k] = (key, None, cached, None)
                        web, thumb, marker = images._scratch_entry(scratch, key)
                        batch.append((k, str(Path(paths[k]).absolute()), str(web), str(thumb), str(marker),
                                      cached is None))
                        if len(batch) == images.BATCH:
                            yield batch
                            batch = []
            if batch:
                yield batch

        try:
            for outcomes in stream(client, batches(), spec, extractor.cache_id, timeout):
                for k, ok, note, vec in outcomes:
                    key, _, cached, _ = results[k]
                    results[k] = (key, note, cached, vec) if ok else ("skip", note)
                    if vec is not None and extractor.cache_id:
                        cache.set(f"features/{extractor.cache_id}/{key}", vec, retry=True)
                bar.update(len(outcomes))
        finally:
            bar.close()
    kept = images.Kept(w, scratch, extractor, len(paths))
    for k, result in enumerate(results):
        if result[0] == "skip":
            w.report.skip(names[k], result[1])
            continue
        key, note, cached, vec = result
        i = kept.add(k, key, note, cached)
        if vec is not None:
            kept.features[i] = vec
    return kept.result()


def _warm(spec: dict) -> str:
    from PIL import Image

    extractor, model_lock = _worker_extractor(spec)
    with model_lock:
        extractor.run(np.stack([extractor.prepare(Image.new("RGB", (32, 32), "white"))]))
    _worker_decoders()
    return extractor.cache_id


def warm_up(client, *, model: str = "pixels", weights: str | None = None) -> None:
    """Load the model and start the decoders on every worker of ``client`` (a benchmark's untimed start)."""
    spec = _spec(model, weights, None)
    workers = list(client.scheduler_info()["workers"])
    client.gather([client.submit(_warm, spec, workers=[w], allow_other_workers=False, pure=False) for w in workers])


def features_for_files(paths: list[Path | str], *, model: str = "pixels", weights: str | None = None,
                       dask="local:2", scratch: Path | str | None = None,
                       timeout: float = images.DECODE_TIMEOUT) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """Features of image files computed on a Dask cluster, without the feature cache (what a benchmark times).

    ``dask`` is a ``--dask`` value or a ``distributed.Client`` (then its cluster's start-up is not timed;
    :func:`warm_up` loads the model on its workers beforehand). For example::

        with dask_images.connect("local:2") as client:
            dask_images.warm_up(client, model="inception_v3", weights=path)
            features, skipped = dask_images.features_for_files(files, model="inception_v3", weights=path,
                                                               dask=client)

    The decoded images go to ``scratch`` (a temporary folder by default; give one on a shared volume for a
    remote cluster). Returns the features of the files that could be used, in the order given, and
    ``(path, reason)`` for each file skipped.
    """
    paths = [Path(p).absolute() for p in paths]
    if not paths:
        raise DashboardError("features_for_files: no files given")
    extractor = features_mod.extractor(model, weights=weights)  # checks the model before any work
    spec = _spec(model, weights, None)
    skipped: dict[int, str] = {}
    with (tempfile.TemporaryDirectory(prefix="dask-features-") if scratch is None else nullcontext(scratch)) as folder:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)

        def batches() -> Iterator[list[tuple]]:
            batch: list[tuple] = []
            for k, path in enumerate(paths):
                try:
                    key = images.content_key(path)
                except OSError as e:
                    skipped[k] = f"cannot read ({e.strerror or e})"
                    continue
                batch.append((k, str(path), *map(str, images._scratch_entry(folder, key)), True))
                if len(batch) == images.BATCH:
                    yield batch
                    batch = []
            if batch:
                yield batch

        vecs: dict[int, np.ndarray] = {}
        with connect(dask) as client:
            check_workers(client, paths[0], folder)
            for outcomes in stream(client, batches(), spec, extractor.cache_id, timeout):
                for k, ok, note, vec in outcomes:
                    if ok:
                        vecs[k] = vec
                    else:
                        skipped[k] = note
    order = sorted(vecs)
    features = np.stack([vecs[k] for k in order]) if order else np.zeros((0, 0), np.float32)
    return features, [(str(paths[k]), skipped[k]) for k in sorted(skipped)]
