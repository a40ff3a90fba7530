"""Background jobs: one process per result, whichever server process asks, supervised.

A job computes one cached result (today: a projection's layout), named by a
small dict such as ``{"dataset", "space", "proj", "params"}``. Its state
lives in the cache folder, so every server process and every restart sees
it:

- ``<id>.lock`` is held (``flock``) by the process computing the job. Two
  requests that start the same job start two processes; the second finds the
  lock taken and exits, so one job runs per result. A job whose process died
  holds no lock and is started again by the next request that asks.
- ``<id>.json`` is its status: progress, start time, the error if it failed.

Job processes die with the server process that started them: they are
started from one long-lived thread (Linux ties ``PR_SET_PDEATHSIG`` to the
starting thread) and also watch their parent's pid, so a killed server
leaves no computing orphans, and the supervisor thread reaps the ones that
end, so none stays a zombie. Dash's own background callbacks keep none of
these promises: a killed server's job goes on computing, a restarted one
starts it again, and the tab waits forever.
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
from pathlib import Path

from . import cache as cache_mod
from . import locks
from .errors import DashboardError

#: How often a job writes its progress (seconds).
PROGRESS_EVERY = 0.5
#: A job asked for this recently and not yet running is starting (a process takes seconds to import).
STARTING_GRACE = 30.0


def job_id(job: dict) -> str:
    return hashlib.sha1(json.dumps(job, sort_keys=True).encode()).hexdigest()[:16]


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


def _done(data_dir: Path | str, job: dict) -> bool:
    from .computed import layout_ready
    from .store import open_dataset

    try:
        ds = open_dataset(data_dir, job["dataset"])
        return layout_ready(ds, job["space"], job["proj"], **job["params"])
    except DashboardError:
        return False


def status(data_dir: Path | str, job: dict) -> dict:
    """``{"state": "done" | "running" | "failed" | "absent", "progress", "eta", "error"}`` of a job."""
    if _done(data_dir, job):
        return {"state": "done", "progress": 1.0}
    lock, path = _paths(data_dir, job)
    s = _read(path)
    if locks.held(lock):
        progress = float(s.get("progress", 0.0))
        elapsed = time.time() - float(s.get("started", time.time()))
        eta = elapsed / progress * (1 - progress) if progress > 0.02 else None
        return {"state": "running", "progress": progress, "eta": eta, "pid": s.get("pid")}
    if s.get("error"):
        return {"state": "failed", "progress": 0.0, "error": s["error"]}
    if time.time() - float(s.get("requested", 0)) < STARTING_GRACE:
        return {"state": "starting", "progress": 0.0}
    return {"state": "absent", "progress": 0.0}


_ENSURE_LOCK = threading.Lock()


def ensure(data_dir: Path | str, job: dict, *, retry_failed: bool = False) -> dict:
    """The job's status, after starting it if nothing computes it (and it is not done).

    Requests in every process see the job ``starting`` once one of them asked, so they start no
    second process; if one were started all the same, it would find the job's lock taken and leave.
    """
    with _ENSURE_LOCK:
        s = status(data_dir, job)
        if s["state"] == "absent" or (s["state"] == "failed" and retry_failed):
            lock, path = _paths(data_dir, job)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                _write(path, {"requested": time.time(), "runs": int(_read(path).get("runs", 0))})
            except OSError as e:
                raise DashboardError(f"cannot start a background job: {e.strerror} ({path.parent})") from None
            _supervisor().start(Path(data_dir), job)
            s = {"state": "starting", "progress": 0.0}
    return s


def cancel(data_dir: Path | str, job: dict) -> bool:
    """Stop a running job (its process is told to end); True when there was one."""
    lock, path = _paths(data_dir, job)
    pid = _read(path).get("pid")
    if not pid or not locks.held(lock):
        return False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(int(pid), signal.SIGTERM)
    return True


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


def _die_with(parent: int) -> None:
    """End this process when ``parent`` ends (a killed server takes its jobs with it)."""
    if sys.platform == "linux":
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # it died before the line above
        os._exit(1)

    def watch() -> None:  # where there is no PR_SET_PDEATHSIG
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def run(data_dir: Path, job: dict) -> int:
    """Compute a job unless another process already does; returns an exit status."""
    from .computed import get_layout
    from .store import open_dataset

    directory = _dir(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    lock, path = _paths(data_dir, job)
    with open(lock, "a+") as held:
        if not locks.try_lock(held):
            return 0  # another process computes it: this request joined that job
        if _done(data_dir, job):
            return 0
        status_now = {"job": job, "pid": os.getpid(), "started": time.time(), "progress": 0.0,
                      "runs": int(_read(path).get("runs", 0)) + 1}
        _write(path, status_now)
        last = [0.0]

        def progress(fraction: float) -> None:
            if time.monotonic() - last[0] >= PROGRESS_EVERY:
                last[0] = time.monotonic()
                _write(path, {**status_now, "progress": float(fraction)})

        try:
            ds = open_dataset(data_dir, job["dataset"])
            get_layout(ds, job["space"], job["proj"], progress=progress, **job["params"])
        except Exception as e:  # noqa: BLE001 - the tab shows it; the traceback is on stderr
            import traceback

            traceback.print_exc()
            _write(path, {**status_now, "error": f"{type(e).__name__}: {e}" if str(e) else type(e).__name__})
            return 1
        _write(path, {**status_now, "progress": 1.0, "finished": time.time()})
    return 0


def main(argv: list[str]) -> int:
    data_dir, job, parent = Path(argv[0]), json.loads(argv[1]), int(argv[2])
    _die_with(parent)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(143))  # cancelled: the cache keeps nothing half-made
    return run(data_dir, job)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
