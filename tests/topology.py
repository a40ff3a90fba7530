"""The hosted topology of docs/deploy.md started for real on loopback, for tests/test_topology.py and
``bench/bench_load.py --topology``.

:func:`topology` starts a private redis-server and PostgreSQL (tests/redis_server.py,
tests/postgres_server.py), a Dask scheduler and its workers (distributed's own CLIs), Celery workers
(``python -m dashboard worker``) and several gunicorn instances on their own ports, all on 127.0.0.1 and
all pointed at one data directory, one Redis and one database, as a cluster's machines would be. Each
process is started here, logs to a file of its own, and is stopped by its PID at the end (its children
too, by theirs). :func:`dash_callback` asks a running server for one of its Dash callbacks over HTTP,
as the page does.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from .conftest import _free_port as free_port

ROOT = Path(__file__).resolve().parent.parent


class TopologyError(RuntimeError):
    """A process of the topology did not start (the message ends with its log)."""


def wait_for(predicate: Callable[[], object], timeout: float, what: str, log: Path | None = None):
    """``predicate()``'s first truthy value, polled until ``timeout`` seconds; else TopologyError."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    tail = f"\n{log.read_text(errors='replace')[-3000:]}" if log and log.exists() else ""
    raise TopologyError(f"timed out after {timeout:.0f} s waiting for {what}{tail}")


# --------------------------------------------------------------------------
# processes, stopped by PID


@dataclass
class Processes:
    """Processes started with their own log files under ``logs``; :meth:`stop_all` stops them, newest first."""

    logs: Path
    started: list[subprocess.Popen] = field(default_factory=list)

    def start(self, name: str, cmd: list[str], env: dict[str, str]) -> subprocess.Popen:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = self.logs / f"{name}.log"
        with open(log, "ab") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=env, cwd=ROOT)
        proc.name, proc.log = name, log
        self.started.append(proc)
        return proc

    def alive(self, proc: subprocess.Popen) -> None:
        """TopologyError with the end of its log if ``proc`` has exited."""
        if proc.poll() is not None:
            raise TopologyError(f"{proc.name} exited with {proc.returncode}:\n"
                                f"{proc.log.read_text(errors='replace')[-3000:]}")

    @staticmethod
    def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        """Stop ``proc`` by its PID, then any of its children that outlived it, by theirs."""
        import psutil

        try:
            children = psutil.Process(proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            children = []
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        _, left = psutil.wait_procs(children, timeout=5)
        for child in left:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()

    def stop_all(self) -> None:
        for proc in reversed(self.started):
            self.stop(proc)


# --------------------------------------------------------------------------
# the topology


@dataclass
class Topology:
    """A running topology: its URLs, the environment its processes share, and its processes."""

    data_dir: Path
    broker: str
    db: str
    scheduler: str | None
    web: list[str]
    env: dict[str, str]
    procs: Processes
    gunicorns: list[subprocess.Popen] = field(default_factory=list)
    celery: list[subprocess.Popen] = field(default_factory=list)
    dask: list[subprocess.Popen] = field(default_factory=list)

    def start_celery_worker(self, name: str, wait: bool = True) -> subprocess.Popen:
        """``python -m dashboard worker`` (one job at a time) on this topology's broker and data directory."""
        proc = self.procs.start(f"celery-{name}", [sys.executable, "-m", "dashboard", "worker", "--broker", self.broker,
                                                   "--data-dir", str(self.data_dir), "--concurrency", "1"], self.env)
        self.celery.append(proc)
        if wait:
            self.wait_celery(proc)
        return proc

    def wait_celery(self, proc: subprocess.Popen, timeout: float = 120) -> None:
        def ready() -> bool:
            self.procs.alive(proc)
            return " ready." in proc.log.read_text(errors="replace")

        wait_for(ready, timeout, f"the Celery worker {proc.name}", proc.log)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=5) as r:
            return r.status == 200
    except OSError:
        return False


def _dask_workers(address: str) -> int:
    import distributed

    with distributed.Client(address, timeout="20s") as client:
        return len(client.scheduler_info()["workers"])


@contextlib.contextmanager
def topology(data_dir: Path, work: Path, *, dataset: str | None = None, web: int = 2, web_workers: int = 2,
             web_threads: int = 1, celery_workers: int = 1, dask_workers: int = 2,
             env: dict[str, str] | None = None, timeout: float = 180) -> Iterator[Topology]:
    """Start the topology over ``data_dir`` (logs under ``work``), yield it once every part answers, stop it.

    ``env``: more environment for every process (``DASHBOARD_PLUGINS``, ``DASHBOARD_VISIBILITY_TIMEOUT``…).
    """
    from .postgres_server import postgres_server
    from .redis_server import redis_server

    data_dir = Path(data_dir).absolute()
    with redis_server() as broker, postgres_server() as pg:
        db = pg.new_database("topology")
        shared = {**os.environ, **(env or {}),
                  # every process imports this checkout (and tests.* plugins) first
                  "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
                  "DASHBOARD_DATA_DIR": str(data_dir), "DASHBOARD_DB": db,
                  "DASHBOARD_JOBS": "celery", "DASHBOARD_BROKER": broker,
                  # dask worker's default daemonic process may not start the image decoders' process
                  "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
        if dataset:
            shared["DASHBOARD_DATASET"] = dataset
        procs = Processes(Path(work) / "logs")
        top = Topology(data_dir, broker, db, None, [], shared, procs)
        try:
            # everything starts at once; then each part is waited for
            if dask_workers:
                port = free_port()
                top.scheduler = f"tcp://127.0.0.1:{port}"
                procs.start("dask-scheduler", [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host",
                                               "127.0.0.1", "--port", str(port), "--no-dashboard"], shared)
                for k in range(dask_workers):
                    top.dask.append(procs.start(f"dask-worker-{k + 1}", [
                        sys.executable, "-m", "distributed.cli.dask_worker", top.scheduler, "--host", "127.0.0.1",
                        "--nthreads", "1", "--nworkers", "1", "--no-dashboard", "--name", f"worker-{k + 1}"], shared))
            celery = [top.start_celery_worker(str(k + 1), wait=False) for k in range(celery_workers)]
            for k in range(web):
                port = free_port()
                cmd = [sys.executable, "-m", "gunicorn", "-w", str(web_workers), "-b", f"127.0.0.1:{port}",
                       "--timeout", "120"]
                if web_threads > 1:
                    cmd += ["--threads", str(web_threads)]
                top.gunicorns.append(procs.start(f"web-{'ABCDEFGH'[k]}", cmd + ["dashboard.wsgi:server"], shared))
                top.web.append(f"http://127.0.0.1:{port}")
            for url, proc in zip(top.web, top.gunicorns):
                wait_for(lambda: procs.alive(proc) or _healthy(url), timeout, f"gunicorn {proc.name} at {url}", proc.log)
            for proc in celery:
                top.wait_celery(proc, timeout)
            if dask_workers:
                def joined() -> bool:
                    for p in top.dask:
                        procs.alive(p)
                    with contextlib.suppress(OSError, TimeoutError):
                        return _dask_workers(top.scheduler) == dask_workers
                    return False

                wait_for(joined, timeout, f"{dask_workers} Dask workers to join {top.scheduler}",
                         top.dask[-1].log)
            yield top
        finally:
            procs.stop_all()


# --------------------------------------------------------------------------
# a Dash callback over HTTP, as the page calls it


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as r:
        return r.read()


def _outputs(spec: str) -> list[tuple[str, str]]:
    """(component id, property) of each output in a callback's output string (``..a.b...c.d..`` or ``a.b``)."""
    parts = spec[2:-2].split("...") if spec.startswith("..") else [spec]
    return [tuple(p.rsplit(".", 1)) for p in parts]


def dash_callback(base: str, outputs: list[tuple[str, str]], values: dict[tuple[str, str], object],
                  changed: list[tuple[str, str]] = ()) -> dict:
    """Call the callback of server ``base`` whose outputs are ``outputs`` (ids and properties, ``@`` suffixes
    of duplicate outputs left out) with ``values`` for its inputs and states, as the page does; returns
    ``{component id: {property: value}}`` of what it answered ({} for a 204, no update). ``changed``: the
    inputs that triggered it (which also tell apart callbacks with the same outputs)."""
    deps = json.loads(_get(base + "/_dash-dependencies"))
    wanted = [(i, p) for i, p in outputs]
    # callbacks may share their outputs (allow_duplicate): the one meant is also triggered by ``changed``
    found = [d for d in deps if [(i, p.split("@")[0]) for i, p in _outputs(d["output"])] == wanted
             and set(changed) <= {(x["id"], x["property"]) for x in d["inputs"]}]
    if len(found) != 1:
        raise LookupError(f"{base}: {len(found)} callbacks with the outputs {wanted} and the inputs {list(changed)}")
    dep = found[0]

    def filled(items: list[dict]) -> list[dict]:
        out = []
        for item in items:
            key = (item["id"], item["property"])
            if key not in values:
                raise LookupError(f"the callback of {wanted} needs a value for {key}")
            out.append({"id": item["id"], "property": item["property"], "value": values[key]})
        return out

    specs = [{"id": i, "property": p} for i, p in _outputs(dep["output"])]
    body = {"output": dep["output"], "outputs": specs if dep["output"].startswith("..") else specs[0],
            "inputs": filled(dep["inputs"]), "state": filled(dep["state"]),
            "changedPropIds": [f"{i}.{p}" for i, p in changed]}
    request = urllib.request.Request(base + "/_dash-update-component", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as r:
            text = r.read()
            return json.loads(text)["response"] if r.status == 200 and text else {}
    except urllib.error.HTTPError as e:
        raise TopologyError(f"{base}: the callback of {wanted} answered {e.code}: {e.read()[:500]!r}") from None


def boot_view(base: str, query: str) -> dict:
    """The view the map page at ``base/?query`` draws first (the page's inlined ``map-boot`` script)."""
    page = _get(f"{base}/?{query}").decode()
    start = page.index('<script id="map-boot" type="application/json">') + len('<script id="map-boot" type="application/json">')
    return json.loads(page[start:page.index("</script>", start)].replace("<\\/", "</"))["view"]
