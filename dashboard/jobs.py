"""Background jobs: one process per result, whichever server process asks, supervised.

A job computes one result (a projection's layout, nearest neighbours, the
missing VAE spaces of an emoji dataset), named by a small dict such as
``{"dataset", "space", "proj", "params"}``. Its state
lives in the cache folder, so every server process and every restart sees
it:

- ``<id>.lock`` is held (``flock``) by the process computing the job. Should
  two processes be started for the same job, the second finds the lock taken
  and exits, so one job runs per result. A job whose process died holds no
  lock and is started again by the next request that asks.
- ``<id>.start`` is taken in turn by requests that ask at once, so the second
  sees the first's request and starts nothing.
- ``<id>.json`` is its status: the job, progress, start time, the error if it
  failed (the page's list of jobs reads them all: :func:`listing`).

Job processes die with the server process that started them: they are
started from one long-lived thread (Linux ties ``PR_SET_PDEATHSIG`` to the
starting thread) and also watch their parent's pid, so a killed server
leaves no computing orphans, and the supervisor thread reaps the ones that
end, so none stays a zombie. Dash's own background callbacks keep none of
these promises: a killed server's job goes on computing, a restarted one
starts it again, and the tab waits forever.

That is the ``local`` engine, the default. The ``celery`` engine
(``--jobs celery --broker redis://…``, or ``DASHBOARD_JOBS`` and
``DASHBOARD_BROKER``) keeps the same promises across machines with Celery
workers and Redis (see :mod:`dashboard.celery_app`). Both run the same
:func:`work` under the same :func:`run`; ``ensure``, ``status`` and ``cancel``
answer the same dicts whichever engine runs the job. Dash's ``CeleryManager``
is deliberately not used: this project has no background callbacks, since
they cannot keep the promises above; every job goes through this module.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

from . import cache as cache_mod
from . import locks
from .errors import DashboardError

#: How often a job writes its progress (seconds).
PROGRESS_EVERY = 0.5
#: A job asked for this recently and not yet running is starting (a process takes seconds to import).
STARTING_GRACE = 30.0
#: The engines that run jobs; ``local`` is the default.
ENGINES = ("local", "celery")


# --------------------------------------------------------------------------
# what a job computes: a small registry of kinds


@dataclass(frozen=True)
class JobKind:
    """One kind of job: ``ready`` says whether its result is cached already (cheap: nothing is
    read), ``compute`` computes it into the cache, calling ``progress(fraction)`` as it goes."""

    name: str
    ready: Callable[[Any, dict], bool]
    compute: Callable[[Any, dict, Callable[[float], None]], None]


def _layout_ready(ds, job: dict) -> bool:
    from .computed import layout_ready

    return layout_ready(ds, job["space"], job["proj"], **job["params"])


def _layout_compute(ds, job: dict, progress: Callable[[float], None]) -> None:
    from .computed import get_layout

    get_layout(ds, job["space"], job["proj"], progress=progress, **job["params"])


def _neighbors_ready(ds, job: dict) -> bool:
    from .computed import neighbors_ready

    return neighbors_ready(ds, job["space"], **job["params"])


def _neighbors_compute(ds, job: dict, progress: Callable[[float], None]) -> None:
    from .computed import get_neighbors

    get_neighbors(ds, job["space"], **job["params"])  # one step: no progress until it is done


def _train_options(job: dict) -> dict:
    """The training options of a ``train`` job's params (absent ones: the recipe's defaults)."""
    params = job.get("params") or {}
    unknown = set(params) - {"dims", "epochs", "layouts"}
    if unknown:
        raise DashboardError(f"train job: unknown parameter {', '.join(sorted(unknown))} (dims, epochs, layouts)")
    return {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}


def _train_ready(ds, job: dict) -> bool:
    from .ingest import emoji

    options = _train_options(job)
    return emoji.trained(ds, options.get("dims", emoji.DEFAULT_DIMS))


def _train_compute(ds, job: dict, progress: Callable[[float], None]) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # the job's output is the server's or worker's log
    from .ingest import emoji

    # ds.path is the version folder, which lies in the data directory as this process sees it
    emoji.train(ds.path.parent, name=ds.name, progress=progress, **_train_options(job))


def train_job(dataset: str, **params) -> dict:
    """The job that trains the missing VAE spaces of an emoji dataset, e.g. ``train_job("emoji")`` (every
    default dim, as ``build emoji`` does) or ``train_job("emoji", dims=[4], epochs=1)``."""
    return {"kind": "train", "dataset": dataset, "params": params}


def train_missing(data_dir: Path | str, name: str) -> dict | None:
    """Start training an emoji dataset's missing VAE spaces (``python -m dashboard --dataset emoji`` and the
    WSGI entry both serve the map while they train): the job's status, or ``None`` when there is nothing
    to train or another process is still building the dataset. One job however many servers ask."""
    from .ingest.emoji import is_emoji
    from .store import build_in_progress, open_dataset

    ds = open_dataset(data_dir, name)
    if ds.state == "complete" or not is_emoji(ds) or build_in_progress(data_dir, name):
        return None
    return ensure(data_dir, train_job(name), retry_failed=True)  # a new server tries a failed one again


#: Job kinds by name; a job dict names its kind under ``"kind"`` (``layout`` when absent, so a
#: projection's job is ``{"dataset", "space", "proj", "params"}`` as the map asks for it).
KINDS: dict[str, JobKind] = {
    "layout": JobKind("layout", _layout_ready, _layout_compute),
    "neighbors": JobKind("neighbors", _neighbors_ready, _neighbors_compute),
    # every missing VAE space of a dataset in one job: they share the dataset's build lock and its
    # manifest, so they are trained one after the other anyway, each written as it finishes
    "train": JobKind("train", _train_ready, _train_compute),
}


def kind(job: dict) -> JobKind:
    """The registered kind of a job dict."""
    name = job.get("kind", "layout")
    if name not in KINDS:
        raise DashboardError(f"unknown job kind {name!r} (choose from {', '.join(KINDS)})")
    return KINDS[name]


def work(data_dir: Path | str, job: dict, progress: Callable[[float], None]) -> None:
    """The work itself, whichever engine runs it: open the dataset, compute the job's result into
    the cache, reporting progress."""
    from .store import open_dataset

    kind(job).compute(open_dataset(data_dir, job["dataset"]), job, progress)


def _canonical(value):
    """``value`` with whole floats as ints: a job that went through the browser (JSON.stringify writes 60.0
    as 60) is the same job as the one the server made."""
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def job_id(job: dict) -> str:
    """A job's name for its lock and status files: the same for equal jobs however their numbers are written."""
    return hashlib.sha1(json.dumps(_canonical(job), sort_keys=True).encode()).hexdigest()[:16]


def _done(data_dir: Path | str, job: dict) -> bool:
    from .store import open_dataset

    try:
        return kind(job).ready(open_dataset(data_dir, job["dataset"]), job)
    except DashboardError:
        return False


# --------------------------------------------------------------------------
# engines: where a job's state lives and how it is started


class JobState(Protocol):
    """One job's state on an engine: its status dict, its lock, its start request, its cancel flag."""

    def read(self) -> dict: ...
    def write(self, status: dict) -> None: ...
    def held(self) -> bool: ...
    def starting(self, status: dict) -> bool: ...
    def lock(self) -> contextlib.AbstractContextManager[bool]: ...
    def cancelled(self) -> bool: ...
    def ended(self) -> None: ...


class Engine(Protocol):
    """Where jobs run: ``state`` of one job, ``start`` it, ``cancel`` it, ``check`` it can be reached, and
    the jobs it ``known`` of a data directory (those asked for since their status last expired)."""

    def state(self, data_dir: Path | str, job: dict) -> JobState: ...
    def start(self, data_dir: Path | str, job: dict) -> None: ...
    def cancel(self, data_dir: Path | str, job: dict) -> bool: ...
    def check(self) -> None: ...
    def known(self, data_dir: Path | str) -> list[dict]: ...


def configure(engine_name: str = "local", broker: str | None = None) -> None:
    """Choose the engine of this process and of the processes it starts (``serve --jobs``); the
    choice travels in ``DASHBOARD_JOBS`` and ``DASHBOARD_BROKER``, which gunicorn's workers read too."""
    if engine_name not in ENGINES:
        raise DashboardError(f"unknown jobs engine {engine_name!r} (choose from {', '.join(ENGINES)})")
    os.environ["DASHBOARD_JOBS"] = engine_name
    if broker:
        os.environ["DASHBOARD_BROKER"] = broker
    engine().check()


def engine() -> Engine:
    """The engine named by ``DASHBOARD_JOBS`` (``local`` when unset)."""
    name = os.environ.get("DASHBOARD_JOBS", "").strip().lower() or "local"
    if name == "local":
        return LOCAL
    if name != "celery":
        raise DashboardError(f"DASHBOARD_JOBS: unknown jobs engine {name!r} (choose from {', '.join(ENGINES)})")
    try:
        from .celery_app import celery_engine
    except ImportError as e:
        raise DashboardError(f"--jobs celery needs the celery extra ({e.name} is missing): "
                             "pip install 'dashboard[celery]'") from None
    return celery_engine(os.environ.get("DASHBOARD_BROKER", ""))


def status(data_dir: Path | str, job: dict) -> dict:
    """``{"state": "done" | "running" | "failed" | "starting" | "absent", "progress", "eta", "error"}``
    of a job."""
    if _done(data_dir, job):
        return {"state": "done", "progress": 1.0}
    st = engine().state(data_dir, job)
    s = st.read()
    if st.held():
        progress = float(s.get("progress", 0.0))
        elapsed = time.time() - float(s.get("started", time.time()))
        eta = elapsed / progress * (1 - progress) if progress > 0.02 else None
        return {"state": "running", "progress": progress, "eta": eta, "pid": s.get("pid")}
    if s.get("error"):
        return {"state": "failed", "progress": 0.0, "error": s["error"]}
    if st.starting(s):
        return {"state": "starting", "progress": 0.0}
    return {"state": "absent", "progress": 0.0}


def label(job: dict) -> str:
    """What a job computes, in words (the page's list of jobs)."""
    from . import registry

    name = job.get("kind", "layout")
    if name == "layout":
        proj = registry.PROJECTIONS.get(job.get("proj", ""))
        return f"{proj.label if proj else job.get('proj')} of latent space {job.get('space')}"
    if name == "neighbors":
        return f"Nearest neighbours in latent space {job.get('space')}"
    if name == "train":
        return f"Training the VAE spaces of {job.get('dataset')}"
    return name


def listing(data_dir: Path | str, dataset: str | None = None) -> list[dict]:
    """Every job the engine knows of for ``dataset`` (all datasets when None) that is not finished: its
    ``job`` dict, ``id``, ``label`` and :func:`status` (running, starting or failed), running ones first."""
    out = []
    for job in engine().known(data_dir):
        if dataset is not None and job.get("dataset") != dataset:
            continue
        try:
            kind(job)
        except DashboardError:
            continue  # written by another version of this program
        s = status(data_dir, job)
        if s["state"] in ("running", "starting", "failed"):
            out.append({"job": job, "id": job_id(job), "label": label(job), **s})
    order = {"running": 0, "starting": 1, "failed": 2}
    return sorted(out, key=lambda j: (order[j["state"]], j["label"]))


_ENSURE_LOCK = threading.Lock()


def ensure(data_dir: Path | str, job: dict, *, retry_failed: bool = False) -> dict:
    """The job's status, after starting it if nothing computes it (and it is not done).

    Requests in every process see the job ``starting`` once one of them asked, so they start no
    second one; if one were started all the same, it would find the job's lock taken and leave.
    """
    kind(job)
    with _ENSURE_LOCK:
        s = status(data_dir, job)
        if s["state"] == "absent" or (s["state"] == "failed" and retry_failed):
            engine().start(data_dir, job)
            s = {"state": "starting", "progress": 0.0}
    return s


def cancel(data_dir: Path | str, job: dict) -> bool:
    """Stop a running job (the cache keeps nothing half-made); True when there was one."""
    return engine().cancel(data_dir, job)


class Cancelled(Exception):
    """Raised by a job's progress callback when the job was cancelled or lost its lock."""


def run(data_dir: Path | str, job: dict, state: JobState) -> int:
    """Compute a job unless another process already does; returns an exit status.

    What every engine's worker calls: ``state`` says where the lock and the status live.
    """
    if _done(data_dir, job):
        return 0  # a duplicate of a finished job: nothing to wait for
    with state.lock() as mine:
        if not mine:
            return 0  # another process computes it: this request joined that job
        try:
            if _done(data_dir, job):
                return 0
            status_now = {"job": job, "pid": os.getpid(), "started": time.time(), "progress": 0.0,
                          "runs": int(state.read().get("runs", 0)) + 1}
            state.write(status_now)
            last = [0.0]

            def progress(fraction: float) -> None:
                if time.monotonic() - last[0] >= PROGRESS_EVERY:
                    last[0] = time.monotonic()
                    if state.cancelled():
                        raise Cancelled
                    state.write({**status_now, "progress": float(fraction)})

            try:
                if state.cancelled():
                    raise Cancelled
                work(data_dir, job, progress)
            except Cancelled:
                state.write({"job": job, "runs": status_now["runs"]})  # nothing half-made is kept: absent again
                return 143
            except Exception as e:  # noqa: BLE001 - the tab shows it; the traceback is on stderr
                import traceback

                traceback.print_exc()
                state.write({**status_now, "error": f"{type(e).__name__}: {e}" if str(e) else type(e).__name__})
                return 1
            state.write({**status_now, "progress": 1.0, "finished": time.time()})
        finally:
            state.ended()
    return 0


# --------------------------------------------------------------------------
# the local engine: a lock file and a status file per job, one process per job


def _dir(data_dir: Path | str) -> Path:
    return cache_mod.cache_dir(data_dir) / "jobs"


def _paths(data_dir: Path | str, job: dict) -> tuple[Path, Path]:
    d = _dir(data_dir)
    jid = job_id(job)
    return d / f"{jid}.lock", d / f"{jid}.json"


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _write(path: Path, status: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(status), encoding="utf-8")
    os.replace(tmp, path)


class _FileState:
    """A job's state in the cache folder: ``<id>.lock`` (flock) and ``<id>.json``."""

    def __init__(self, data_dir: Path | str, job: dict):
        self.lock_path, self.path = _paths(data_dir, job)

    def read(self) -> dict:
        return _read(self.path)

    def write(self, status: dict) -> None:
        _write(self.path, status)

    def held(self) -> bool:
        return locks.held(self.lock_path)

    def starting(self, status: dict) -> bool:
        return time.time() - float(status.get("requested", 0)) < STARTING_GRACE

    @contextlib.contextmanager
    def lock(self) -> Iterator[bool]:
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a+") as held:
            yield locks.try_lock(held)

    def cancelled(self) -> bool:
        return False  # cancel ends the job's process instead

    def ended(self) -> None:
        pass


class LocalEngine:
    """Today's engine: one supervised process per job on this machine."""

    def state(self, data_dir: Path | str, job: dict) -> _FileState:
        return _FileState(data_dir, job)

    def start(self, data_dir: Path | str, job: dict) -> None:
        st = self.state(data_dir, job)
        try:
            st.path.parent.mkdir(parents=True, exist_ok=True)
            # Two processes asking at once (gunicorn's workers importing the WSGI entry) take turns here, so
            # the second sees the first's request and starts no process of its own (the Celery engine's
            # request is one atomic Redis SET NX).
            with open(st.path.with_suffix(".start"), "a+") as turn:
                if not locks.try_lock(turn, patience=10.0):
                    return  # the other asker is still at it: its job is on its way
                s = st.read()
                if st.held() or st.starting(s):
                    return
                st.write({"job": job, "requested": time.time(), "runs": int(s.get("runs", 0))})
        except OSError as e:
            raise DashboardError(f"cannot start a background job: {e.strerror} ({st.path.parent})") from None
        _supervisor().start(Path(data_dir), job)

    def cancel(self, data_dir: Path | str, job: dict) -> bool:
        st = self.state(data_dir, job)
        pid = st.read().get("pid")
        # A process that has just taken the lock writes its pid a moment later (a loaded machine: seconds)
        deadline = time.monotonic() + 10.0
        while not pid and st.held() and time.monotonic() < deadline:
            time.sleep(0.05)
            pid = st.read().get("pid")
        if not pid or not st.held():
            return False
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(int(pid), signal.SIGTERM)
        return True

    def check(self) -> None:
        pass

    def known(self, data_dir: Path | str) -> list[dict]:
        found = (_read(path).get("job") for path in sorted(_dir(data_dir).glob("*.json")))
        return [job for job in found if isinstance(job, dict)]


LOCAL = LocalEngine()


# --------------------------------------------------------------------------
# the server side: one thread starts every job process and reaps it


class _Supervisor:
    def __init__(self):
        self.requests: queue.Queue = queue.Queue()
        self.children: list[subprocess.Popen] = []
        self.thread = threading.Thread(target=self._run, name="job-supervisor", daemon=True)
        self.thread.start()

    def start(self, data_dir: Path, job: dict) -> None:
        self.requests.put((data_dir, job))

    def _run(self) -> None:
        while True:
            try:
                data_dir, job = self.requests.get(timeout=1.0)
                env = dict(os.environ, DASHBOARD_DATA_DIR=str(data_dir))
                self.children.append(subprocess.Popen(
                    [sys.executable, "-m", "dashboard.jobs", str(data_dir), json.dumps(job), str(os.getpid())],
                    env=env, stdin=subprocess.DEVNULL,
                ))
            except queue.Empty:
                pass
            except OSError:  # cannot start a process (limits): the next request asks again
                pass
            self.children = [c for c in self.children if c.poll() is None]  # reaped: no zombies


_SUPERVISOR: _Supervisor | None = None
_SUPERVISOR_LOCK = threading.Lock()


def _supervisor() -> _Supervisor:
    global _SUPERVISOR
    with _SUPERVISOR_LOCK:
        if _SUPERVISOR is None or not _SUPERVISOR.thread.is_alive() or _SUPERVISOR.pid != os.getpid():
            _SUPERVISOR = _Supervisor()
            _SUPERVISOR.pid = os.getpid()  # a forked worker (gunicorn) starts its own
        return _SUPERVISOR


# --------------------------------------------------------------------------
# the job process


def die_with(parent: int, *, pdeathsig: bool = True) -> None:
    """End this process when ``parent`` ends (a killed server or worker takes its jobs with it)."""
    if pdeathsig and sys.platform == "linux":
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # it died before the line above
        os._exit(1)

    def watch() -> None:  # where there is no PR_SET_PDEATHSIG
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


def main(argv: list[str]) -> int:
    data_dir, job, parent = Path(argv[0]), json.loads(argv[1]), int(argv[2])
    die_with(parent)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(143))  # cancelled: the cache keeps nothing half-made
    return run(data_dir, job, LOCAL.state(data_dir, job))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
