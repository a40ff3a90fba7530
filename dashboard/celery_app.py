"""Background jobs on Celery workers, with Redis as broker and result backend (``--jobs celery``).

The jobs engine of :mod:`dashboard.jobs` for more than one machine. The web server sends a job as
one task; a worker (``python -m dashboard worker --broker redis://…``, or
``DASHBOARD_BROKER=redis://… celery -A dashboard.celery_app worker``) runs the same
:func:`dashboard.jobs.run` as the local engine, with the job's state in Redis instead of files:

- ``…:requested`` (``SET NX`` with a TTL): the one request that sends the task; every other web
  process sees the job ``starting`` and sends none.
- ``…:lock``: held by the worker computing the job, with a short TTL that a heartbeat thread
  renews. A killed worker's lock expires; a redelivered or duplicate task waits for it a little
  (the holder alive keeps renewing it: the task leaves; dead: it expires and the task computes).
- ``…:status``: progress, start time, pid, the error if it failed (what ``jobs.status`` reads).
- ``…:cancel``: a flag the job's progress callback checks, so a cancelled job stops and the
  cache keeps nothing half-made.

Messages are acknowledged late and rejected when their worker is lost, so a job whose worker was
killed is delivered again after the broker's visibility timeout (``DASHBOARD_VISIBILITY_TIMEOUT``
seconds, 3600 by default; it must exceed the longest job, as Celery's Redis transport requires).
The worker needs the data directory at the path the web server sends (in a deployment, a shared
volume), or ``--data-dir`` where it is mounted elsewhere.

Dash's ``CeleryManager`` is not used: it serves Dash background callbacks, which this project
replaced with its own supervised jobs (see :mod:`dashboard.jobs`); every job goes through there.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Iterator

import redis
from celery import Celery
from celery.signals import worker_init, worker_process_init
from kombu.utils.url import maybe_sanitize_url

from . import jobs
from .errors import DashboardError

#: The name of the one task, and the queue it goes through.
TASK = "dashboard.run_job"
QUEUE = "dashboard.jobs"
DEFAULT_VISIBILITY_TIMEOUT = 3600
#: How long a job's status stays in Redis after it was last written (seconds).
STATUS_TTL = 7 * 24 * 3600


def visibility_timeout() -> int:
    """Seconds before a message taken by a worker that never acknowledged it is delivered again."""
    raw = os.environ.get("DASHBOARD_VISIBILITY_TIMEOUT", "").strip()
    if not raw:
        return DEFAULT_VISIBILITY_TIMEOUT
    try:
        value = int(float(raw))
    except ValueError:
        value = 0
    if value < 2:
        raise DashboardError(f"DASHBOARD_VISIBILITY_TIMEOUT: expected seconds (at least 2), got {raw!r}")
    return value


def lock_ttl(visibility: int) -> float:
    """A job lock's time to live: short, so a killed worker's lock is gone before its message returns."""
    return min(30.0, visibility / 2)


def _check_url(broker: str) -> str:
    if not broker:
        raise DashboardError("--jobs celery needs --broker redis://HOST:PORT/DB (or DASHBOARD_BROKER)")
    if not broker.startswith(("redis://", "rediss://")):
        raise DashboardError(f"--broker: expected a Redis URL such as redis://127.0.0.1:6379/0, "
                             f"got {maybe_sanitize_url(broker)!r}")
    return broker


@contextlib.contextmanager
def _reachable(broker: str) -> Iterator[None]:
    """Redis that cannot be reached becomes one line for the user, not a traceback."""
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError, OSError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise DashboardError(f"cannot reach the jobs broker {maybe_sanitize_url(broker)}: {reason}") from None


# --------------------------------------------------------------------------
# the Celery app and its task


def make_app(broker: str) -> Celery:
    """A Celery app on ``broker`` (Redis: broker and result backend) with the job task registered."""
    visibility = visibility_timeout()
    app = Celery("dashboard", broker=broker, backend=broker, set_as_current=False)
    transport = {
        "visibility_timeout": visibility,
        # Kombu sweeps for unacknowledged messages every interval × throttle seconds (100 by
        # default): sweep often enough that a killed worker's job returns soon after the timeout.
        "unacked_restore_interval": max(1, min(10, visibility // 4)),
        "unacked_restore_throttle": 1,
        "socket_connect_timeout": 5,
    }
    app.conf.update(
        task_acks_late=True,  # a message is acknowledged when its job ends, not when it starts...
        task_reject_on_worker_lost=True,  # ...and given back when its worker process dies
        worker_prefetch_multiplier=1,  # a busy worker holds no jobs that an idle one could run
        broker_transport_options=transport,
        result_backend_transport_options={"visibility_timeout": visibility},
        broker_connection_retry_on_startup=True,
        task_default_queue=QUEUE,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_expires=24 * 3600,
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5},
    )

    @app.task(name=TASK, shared=False)  # each app its own: not added to every app made in this process
    def run_job(data_dir: str, job: dict) -> dict:
        """Compute one job (see :func:`dashboard.jobs.run`); its state lives in Redis."""
        state = celery_engine(app.conf.broker_url).state(data_dir, job)
        here = os.environ.get("DASHBOARD_WORKER_DATA_DIR") or data_dir  # where this worker sees it
        return {"exit": jobs.run(Path(here), job, state)}

    return app


@worker_init.connect
def _preload(**_) -> None:
    """Import the compute modules (and DASHBOARD_PLUGINS) once in the worker, before it forks its pool."""
    from . import computed, store  # noqa: F401


@worker_process_init.connect
def _die_with_worker(**_) -> None:
    """A pool process ends when its worker is killed, so a killed worker leaves no job computing."""
    jobs.die_with(os.getppid(), pdeathsig=False)  # the pool may fork from a thread that ends


def run_worker(broker: str, *, data_dir: Path | None = None, concurrency: int | None = None,
               loglevel: str = "info") -> None:
    """Run a Celery worker for the jobs of ``serve --jobs celery`` (blocks until it is stopped)."""
    engine = celery_engine(broker)
    engine.check()
    os.environ["DASHBOARD_BROKER"] = broker
    if data_dir is not None:
        if not Path(data_dir).is_dir():
            raise DashboardError(f"--data-dir: no such folder {data_dir}")
        os.environ["DASHBOARD_WORKER_DATA_DIR"] = str(Path(data_dir).absolute())
    argv = ["worker", f"--loglevel={loglevel.upper()}", "--hostname", f"dashboard-{os.getpid()}@%h"]
    if concurrency:
        argv += ["--concurrency", str(concurrency)]
    engine.app().worker_main(argv)


# --------------------------------------------------------------------------
# a job's state in Redis


def _prefix(data_dir: Path | str) -> str:
    """Where a data directory's jobs live in Redis: its path names the deployment, so two sharing one
    Redis keep apart."""
    return f"dashboard:jobs:{hashlib.sha1(str(Path(data_dir).absolute()).encode()).hexdigest()[:8]}:"


class RedisState:
    """One job's status, lock, start request and cancel flag in Redis (see the module's docstring)."""

    def __init__(self, engine: CeleryEngine, data_dir: Path | str, job: dict):
        self.engine = engine
        # the data directory's path names the deployment: two sharing one Redis keep apart
        base = f"{_prefix(data_dir)}{jobs.job_id(job)}"
        self.status_key, self.lock_key = f"{base}:status", f"{base}:lock"
        self.requested_key, self.cancel_key = f"{base}:requested", f"{base}:cancel"
        self.lost = threading.Event()

    @property
    def r(self) -> redis.Redis:
        return self.engine.client()

    def read(self) -> dict:
        with _reachable(self.engine.broker):
            raw = self.r.get(self.status_key)
        try:
            return json.loads(raw) if raw else {}
        except ValueError:
            return {}

    def write(self, status: dict) -> None:
        if self.lost.is_set():
            return  # another worker may hold the job now: its status is no longer this one's to write
        with _reachable(self.engine.broker):
            self.r.set(self.status_key, json.dumps(status), ex=STATUS_TTL)

    def held(self) -> bool:
        with _reachable(self.engine.broker):
            return bool(self.r.exists(self.lock_key))

    def starting(self, status: dict) -> bool:
        with _reachable(self.engine.broker):
            return bool(self.r.exists(self.requested_key))

    @contextlib.contextmanager
    def lock(self) -> Iterator[bool]:
        """Take the job's lock, waiting a little for one a dead worker left; renew it while computing."""
        ttl = self.engine.ttl
        # redis-py's Lock: a token that only its holder can renew or release
        lock = self.r.lock(self.lock_key, timeout=ttl, blocking=True, blocking_timeout=2 * ttl + 1,
                           sleep=min(0.5, ttl / 4), thread_local=False)
        if not lock.acquire():
            yield False  # a live worker computes it: this task joined that job
            return
        stop = threading.Event()

        def heartbeat() -> None:
            while not stop.wait(ttl / 3):
                try:
                    if not lock.reacquire():
                        raise redis.exceptions.LockError("not owned")
                except (redis.exceptions.LockError, redis.RedisError):
                    self.lost.set()  # another worker may take the job over: stop computing it
                    return

        beat = threading.Thread(target=heartbeat, name="job-lock-heartbeat", daemon=True)
        beat.start()
        try:
            yield True
        finally:
            stop.set()
            beat.join()
            with contextlib.suppress(redis.exceptions.LockError, redis.RedisError):
                lock.release()

    def cancelled(self) -> bool:
        if self.lost.is_set():
            return True
        with _reachable(self.engine.broker):
            return bool(self.r.exists(self.cancel_key))

    def ended(self) -> None:
        with contextlib.suppress(redis.RedisError):
            self.r.delete(self.requested_key)


class CeleryEngine:
    """Jobs as Celery tasks, their state in Redis; the web side of :mod:`dashboard.jobs`' celery engine."""

    def __init__(self, broker: str, visibility: int):
        self.broker = _check_url(broker)
        self.visibility = visibility
        self.ttl = lock_ttl(visibility)
        self._clients: dict[int, redis.Redis] = {}
        self._apps: dict[int, Celery] = {}

    def client(self) -> redis.Redis:
        """This process's Redis client (a forked web or pool process makes its own)."""
        pid = os.getpid()
        if pid not in self._clients:
            self._clients[pid] = redis.Redis.from_url(self.broker, socket_connect_timeout=3, socket_timeout=10)
        return self._clients[pid]

    def app(self) -> Celery:
        pid = os.getpid()
        if pid not in self._apps:
            self._apps[pid] = make_app(self.broker)
        return self._apps[pid]

    def state(self, data_dir: Path | str, job: dict) -> RedisState:
        return RedisState(self, data_dir, job)

    def start(self, data_dir: Path | str, job: dict) -> None:
        """Send the job's task, unless another request (in any process) just did."""
        st = self.state(data_dir, job)
        task_id = str(uuid.uuid4())
        with _reachable(self.broker):
            if not self.client().set(st.requested_key, task_id, nx=True, ex=self.visibility):
                return  # another request sent it: that task is on its way
            self.client().delete(st.cancel_key)
            st.write({"job": job, "requested": time.time(), "runs": int(st.read().get("runs", 0)), "task": task_id})
            try:
                self.app().send_task(TASK, args=[str(Path(data_dir).absolute()), job], task_id=task_id, queue=QUEUE)
            except Exception as e:
                self.client().delete(st.requested_key)  # not sent: the next request tries again
                if "kombu" in type(e).__module__ or isinstance(e, OSError):
                    raise DashboardError(f"cannot send a job to {maybe_sanitize_url(self.broker)}: {e}") from None
                raise

    def cancel(self, data_dir: Path | str, job: dict) -> bool:
        st = self.state(data_dir, job)
        if not st.held():
            return False
        with _reachable(self.broker):
            self.client().set(st.cancel_key, "1", ex=self.visibility)  # its progress callback stops it
        return True

    def known(self, data_dir: Path | str) -> list[dict]:
        with _reachable(self.broker):
            keys = sorted(self.client().scan_iter(match=f"{_prefix(data_dir)}*:status", count=500))
            raws = self.client().mget(keys) if keys else []
        found = []
        for raw in raws:
            with contextlib.suppress(ValueError, TypeError):
                job = json.loads(raw).get("job")
                if isinstance(job, dict):
                    found.append(job)
        return found

    def check(self) -> None:
        """Raise a one-line DashboardError when Redis cannot be reached."""
        with _reachable(self.broker):
            self.client().ping()


@functools.lru_cache(maxsize=8)
def _engine(broker: str, visibility: int) -> CeleryEngine:
    return CeleryEngine(broker, visibility)


def celery_engine(broker: str) -> CeleryEngine:
    """The engine for ``broker`` (one per broker and visibility timeout in a process)."""
    return _engine(_check_url(broker), visibility_timeout())


#: The app ``celery -A dashboard.celery_app worker`` runs (its broker from ``DASHBOARD_BROKER``).
app = make_app(os.environ.get("DASHBOARD_BROKER") or "redis://127.0.0.1:6379/0")
