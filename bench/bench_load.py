"""Fifty people at once: gunicorn with 4 workers replaying a recorded browser session.

For each dataset (``digits`` and synthetic blobs of a given size) this

1. starts ``gunicorn -w 4 dashboard.wsgi:server`` on 127.0.0.1 (``--threads``
   for gthread workers);
2. records what a real session fetches: headless Chromium opens the map
   (``/?dataset=…&proj=pca&color=<a categorical column>``), changes the
   colour to a numeric column, filters one category, and downloads the
   filtered CSV. Every request is kept (method, path, body, status) with the
   step it belongs to: the page, Dash's own files, the map's binary buffers
   and JSON, and Dash's ``/_dash-update-component`` POSTs;
3. replays that session with an asyncio client (aiohttp): first one client
   alone, then ``--clients`` at once, each for ``--seconds``. A client sends
   its requests one after another with no pause between them (a busier user
   than any real one), loops over the session until the time is up, and,
   like a browser, fetches what the server let it cache (``max-age`` > 0)
   only on its first pass and revalidates what carries an ETag or a
   Last-Modified date (a 304 is then an answer too). A request counts as an
   error when its status differs from the recorded one or it fails. A warm-up
   pass (unmeasured) comes first, so that every worker has read the data.

Reported per request kind (step:what) and overall: requests, errors,
p50/p95/p99 latency, the same for the single client, and the ratio
p95(many)/p95(one). The goal (issue 14) is p95 under 1 s on 2 cores.
Also the CPU the workers and the clients used (server CPU per request does
not depend on what else runs on the machine; latencies do), and, for one
client, the milliseconds each kind of request costs per session pass.
``--profile`` also samples the workers with py-spy during the many-client
run and lists the functions where they spend their time (py-spy: pip
install py-spy; its raw stacks are kept beside the figures).

The session opens the PCA layout (computed before the server starts), so
that no background projection job runs during the measurement.

Where the server runs:

- by default, one ``gunicorn -w WORKERS`` started here (above);
- ``--topology``: the hosted topology of docs/deploy.md started here on loopback
  (tests/topology.py): two gunicorn instances of ``--workers`` each on their own
  ports, sharing the data directory, a private Redis (Celery jobs) and a private
  PostgreSQL (groups), with a Celery worker; the clients are spread over the two;
- ``--url URL[,URL…]``: servers already running (a deployment), with ``--data-dir``
  the data directory they serve (read here to choose the session's columns). The
  clients are spread over the URLs; server CPU is not measured.

    python bench/bench_load.py [--sizes digits,20000] [--clients 50] [--seconds 120] [--threads 1] [--profile]
    python bench/bench_load.py --topology --sizes digits --clients 50 --seconds 60 [--workers 2]
    python bench/bench_load.py --url http://a:8050,http://b:8050 --data-dir /srv/data --sizes digits
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator
from urllib.parse import urlencode, urlsplit

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import _drawn  # noqa: E402
import _serve  # noqa: E402
from _results import RESULTS, save  # noqa: E402
from dashboard import fixtures  # noqa: E402
from dashboard.computed import get_layout  # noqa: E402
from dashboard.store import open_dataset  # noqa: E402

STEPS = ("load", "colour", "filter", "export")


# --------------------------------------------------------------------------
# datasets and the server


def make_dataset(data_dir: Path, size: str) -> str:
    """``digits`` (the real recipe) or synthetic blobs of ``size`` points, made once per data directory,
    with its PCA layout cached."""
    if size == "digits":
        from dashboard.ingest import digits

        name = "digits"
        if not (data_dir / name / "manifest.json").exists():
            digits.build(data_dir, layouts=("pca",))
    else:
        n = int(size)
        name = f"synth{n // 1000}k" if n >= 1000 else f"synth{n}"
        if not (data_dir / name / "manifest.json").exists():
            fixtures.blobs(data_dir, name, n=n, dim=8, categories=10)
    ds = open_dataset(data_dir, name)
    get_layout(ds, ds.default_space, "pca")
    return name


def session_choices(data_dir: Path, name: str) -> dict:
    """The columns the session colours by and the category it filters on."""
    ds = open_dataset(data_dir, name)
    cats = [c for c, k in ds.schema.items() if k == "categorical"]
    nums = [c for c, k in ds.schema.items() if k == "numeric"]
    if not cats or not nums:
        raise SystemExit(f"{name}: the session needs a categorical and a numeric column")
    values = ds.meta[cats[0]].dropna().astype(str).value_counts()
    return {"category": cats[0], "numeric": nums[0], "value": str(values.index[min(1, len(values) - 1)])}


def gunicorn(data_dir: Path, name: str, log: Path, workers: int, threads: int):
    """``gunicorn -w WORKERS dashboard.wsgi:server`` on a free loopback port, serving this checkout."""
    port = _serve.free_port()
    cmd = [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}"]
    if threads > 1:
        cmd += ["--threads", str(threads)]
    env = {**os.environ, "DASHBOARD_DATA_DIR": str(data_dir), "DASHBOARD_DATASET": name}
    return _serve.serve(cmd + ["dashboard.wsgi:server"], port, log, env=env, cwd=ROOT, what="gunicorn")


@contextlib.contextmanager
def servers(where: str, data_dir: Path, name: str, tmp: Path, workers: int, threads: int,
            urls: list[str]) -> Iterator[tuple[list[str], list[int]]]:
    """The servers to load: (their URLs, the PIDs of gunicorn masters started here, to measure their CPU)."""
    if where == "url":
        yield urls, []
    elif where == "topology":
        from tests.topology import TopologyError, topology

        try:
            with topology(data_dir, tmp / "topology", dataset=name, web=2, web_workers=workers, web_threads=threads,
                          celery_workers=1, dask_workers=0) as top:
                yield top.web, [p.pid for p in top.gunicorns]
        except TopologyError as e:
            raise SystemExit(f"the topology did not start: {e}") from None
        except BaseException as e:  # tests/redis_server.py and postgres_server.py skip or fail as in pytest
            if type(e).__module__.startswith("_pytest"):
                raise SystemExit(f"--topology: {e}") from None
            raise
    else:
        log = tmp / f"gunicorn-{name}.log"
        with gunicorn(data_dir, name, log, workers, threads) as url:
            yield [url], [_master_pid(log)]


# --------------------------------------------------------------------------
# recording what a browser fetches


def kind_of(method: str, path: str) -> str:
    """What a request is, for the report: page, dash (Dash's layout and dependencies), static, buffer,
    json, callback, export."""
    p = urlsplit(path).path
    if p == "/":
        return "page"
    if p == "/_dash-update-component":
        return "callback"
    if p in ("/_dash-layout", "/_dash-dependencies"):
        return "dash"
    if p.startswith("/export/"):
        return "export"
    if p.startswith("/api/") and (p.endswith(".bin") or p.endswith(".png")):
        return "buffer"
    if p.startswith("/api/"):
        return "json"
    return "static"


def record_session(url: str, name: str, choice: dict, settle_s: float = 1.0) -> list[dict]:
    """Drive the map in headless Chromium and return every request it made, in order."""
    from playwright.sync_api import sync_playwright

    records: list[dict] = []
    by_request: dict = {}
    inflight = [0]
    step = ["load"]

    def on_request(r):
        inflight[0] += 1
        parts = urlsplit(r.url)
        if not r.url.startswith(url):
            return
        rec = {"step": step[0], "method": r.method, "path": parts.path + (f"?{parts.query}" if parts.query else ""),
               "content_type": r.headers.get("content-type"), "body": base64.b64encode(r.post_data_buffer or b"").decode(),
               "status": None, "cacheable": False}
        rec["kind"] = kind_of(rec["method"], rec["path"])
        if rec["kind"] == "callback":
            try:  # which outputs the callback computes: the detail the report groups callbacks by
                rec["output"] = json.loads(r.post_data_buffer)["output"][:80]
            except (ValueError, KeyError, TypeError):
                rec["output"] = "?"
        records.append(rec)
        by_request[r] = rec

    def on_response(resp):
        rec = by_request.get(resp.request)
        if rec is not None:
            rec["status"] = resp.status
            cc = resp.headers.get("cache-control") or ""
            rec["cacheable"] = any(p.strip().startswith("max-age=") and p.strip() != "max-age=0" for p in cc.split(","))
            # what a browser sends to revalidate it on the next visit (answered 304 when unchanged)
            rec["validators"] = {k: v for k, v in (("If-None-Match", resp.headers.get("etag")),
                                                   ("If-Modified-Since", resp.headers.get("last-modified"))) if v}

    def on_done(r):
        inflight[0] -= 1

    def quiet(page, timeout_s: float = 120) -> None:
        """Until no request has been in flight for ``settle_s``."""
        deadline, calm_since = time.time() + timeout_s, None
        while time.time() < deadline:
            if inflight[0] == 0:
                calm_since = calm_since or time.time()
                if time.time() - calm_since >= settle_s:
                    return
            else:
                calm_since = None
            page.wait_for_timeout(50)
        raise SystemExit(f"the page kept fetching for {timeout_s:.0f} s during step {step[0]!r}")

    def drawn(page, after: int) -> int:
        page.wait_for_function(f"window.dashMap && dashMap.stats().drawnVersion > {after} && "
                               "dashMap.stats().drawnVersion === dashMap.stats().version", timeout=120_000)
        return page.evaluate("dashMap.stats().drawnVersion")

    query = urlencode({"dataset": name, "mode": "points", "proj": "pca", "color": choice["category"]})
    with sync_playwright() as p:
        browser = _drawn.launch(p)
        page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        page.on("request", on_request)
        page.on("response", on_response)
        page.on("requestfinished", on_done)
        page.on("requestfailed", on_done)
        page.goto(f"{url}/?{query}")
        version = drawn(page, -1)
        page.wait_for_selector("#color-select", timeout=60_000)  # Dash's controls are attached
        quiet(page)

        step[0] = "colour"
        page.evaluate(f"dash_clientside.set_props('color-select', {{value: {json.dumps(choice['numeric'])}}})")
        version = drawn(page, version)
        quiet(page)

        step[0] = "filter"
        page.evaluate("dash_clientside.set_props({type: 'category', column: %s}, {value: [%s]})"
                      % (json.dumps(choice["category"]), json.dumps(choice["value"])))
        drawn(page, version)
        quiet(page)

        step[0] = "export"
        with page.expect_download() as dl:
            page.evaluate("document.querySelector('#download-filtered').click()")
        dl.value.path()
        quiet(page)
        browser.close()
    missing = [r for r in records if r["status"] is None and r["kind"] != "export"]
    if missing:
        raise SystemExit(f"no response recorded for {[r['path'] for r in missing]}")
    for r in records:  # a download's response is not always reported: the export answers 200
        r["status"] = r["status"] or 200
    bad = [r for r in records if r["status"] >= 400]
    if bad:
        raise SystemExit(f"the recorded session had errors: {[(r['path'], r['status']) for r in bad]}")
    for s in STEPS:
        if not any(r["step"] == s for r in records):
            raise SystemExit(f"the recorded session made no request for step {s!r}")
    return records


# --------------------------------------------------------------------------
# replaying it


def label(rec: dict) -> str:
    return f"{rec['step']}:{rec['kind']}"


async def _client(base: str, session: list[dict], deadline: float, out: list, max_passes: int | None) -> None:
    import aiohttp

    timeout = aiohttp.ClientTimeout(total=120)
    # auto_decompress off: the load generator shares the CPUs with the server, so it does as little as it can
    async with aiohttp.ClientSession(base, timeout=timeout, auto_decompress=False) as http:
        passes = 0
        while time.perf_counter() < deadline and (max_passes is None or passes < max_passes):
            for rec in session:
                if passes and rec["cacheable"]:
                    continue  # the browser has it
                if time.perf_counter() >= deadline and max_passes is None:
                    return
                headers = {"Accept-Encoding": "gzip, deflate"}
                if rec["content_type"]:
                    headers["Content-Type"] = rec["content_type"]
                if passes and rec["method"] == "GET":
                    headers.update(rec.get("validators") or {})
                t = time.perf_counter()
                try:
                    async with http.request(rec["method"], rec["path"], data=rec["raw"] or None,
                                            headers=headers) as resp:
                        body = await resp.read()
                        revalidated = resp.status == 304 and bool(rec.get("validators")) and passes > 0
                        ok = resp.status == rec["status"] or revalidated
                        err = None if ok else f"HTTP {resp.status}: {body[:200]!r}"
                except Exception as e:  # a refused or dropped connection, a timeout: counted, never fatal
                    err, body = f"{type(e).__name__}: {e}", b""
                out.append((label(rec), rec.get("output") or urlsplit(rec["path"]).path, time.perf_counter() - t,
                            len(body), err))
            passes += 1


def replay(bases: list[str], session: list[dict], clients: int, seconds: float, max_passes: int | None = None) -> list:
    """``clients`` concurrent replays for ``seconds``, spread over the servers at ``bases`` (as a load balancer
    would); returns (kind, detail, seconds, bytes, error) per request."""
    for rec in session:
        rec["raw"] = base64.b64decode(rec["body"])
    out: list = []

    async def main():
        deadline = time.perf_counter() + seconds
        await asyncio.gather(*(_client(bases[k % len(bases)], session, deadline, out, max_passes)
                               for k in range(clients)))

    asyncio.run(main())
    return out


def _client_cpu_s() -> float:
    """CPU seconds this process (the load generator) has used."""
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def summarise(samples: list, seconds: float) -> dict:
    """Counts and latency percentiles (ms) overall, per kind and per detail (callback output or path)."""
    def stats(rows) -> dict:
        lat = np.array([r[2] for r in rows]) * 1000
        errors = [r[4] for r in rows if r[4]]
        return {"requests": len(rows), "errors": len(errors), "error_examples": sorted(set(errors))[:3],
                "p50_ms": float(np.percentile(lat, 50)) if len(lat) else None,
                "p95_ms": float(np.percentile(lat, 95)) if len(lat) else None,
                "p99_ms": float(np.percentile(lat, 99)) if len(lat) else None,
                "mean_ms": float(lat.mean()) if len(lat) else None,
                "bytes": int(sum(r[3] for r in rows))}

    kinds, details = collections.defaultdict(list), collections.defaultdict(list)
    for r in samples:
        kinds[r[0]].append(r)
        details[f"{r[0]} {r[1]}"].append(r)
    out = {"overall": stats(samples), "per_s": len(samples) / seconds}
    out["kinds"] = {k: stats(v) for k, v in sorted(kinds.items(), key=lambda kv: STEPS.index(kv[0].split(":")[0]))}
    out["details"] = {k: stats(v) for k, v in details.items()}
    return out


# --------------------------------------------------------------------------
# where the time goes: py-spy on the workers


def start_profile(log: Path, path: Path) -> subprocess.Popen:
    """py-spy sampling the gunicorn master's workers (``--subprocesses``) until stopped."""
    if shutil.which("py-spy") is None:
        raise SystemExit("--profile needs py-spy (pip install py-spy)")
    master = _master_pid(log)
    return subprocess.Popen(["py-spy", "record", "--pid", str(master), "--subprocesses", "--nonblocking",
                             "--format", "raw", "--rate", "50", "--output", str(path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def servers_cpu_s(masters: list[int]) -> float:
    """CPU seconds used so far by the gunicorn instances (NaN when none was started here)."""
    return sum(server_cpu_s(m) for m in masters) if masters else float("nan")


def server_cpu_s(master: int) -> float:
    """CPU seconds used so far by gunicorn's master and its workers (Linux /proc), to tell the cost of a
    request apart from the waiting that other processes on a shared machine cause."""
    tick = os.sysconf("SC_CLK_TCK")
    pids = [master]
    try:
        pids += [int(p) for p in Path(f"/proc/{master}/task/{master}/children").read_text().split()]
    except OSError:
        return float("nan")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # a worker that just exited
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def _master_pid(log: Path) -> int:
    for line in log.read_text(errors="replace").splitlines():
        if "Listening at" in line or "Starting gunicorn" in line:
            return int(line.split("[")[2].split("]")[0])
    raise SystemExit(f"no gunicorn master pid in {log}")


def _frame(f: str) -> tuple[str, str]:
    """("function file", package) of one py-spy frame ``function (path:line)``."""
    func, _, where = f.rpartition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    if path.startswith(str(ROOT) + "/"):
        path = path[len(str(ROOT)) + 1:]
    elif "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    elif "/lib/python" in path:  # the standard library: "json/encoder.py"
        path = path.split("/lib/python", 1)[1].split("/", 1)[-1]
    package = path.split("/", 1)[0] if "/" in path else path.removesuffix(".py")
    return f"{func} {path}", package


def stop_profile(proc: subprocess.Popen, path: Path, top: int = 25) -> dict:
    """Stop py-spy and summarise where the workers were busy (samples waiting for a request left out):

    ``ours``: the share of busy samples inside each function of this project (inclusive);
    ``packages``: the share of each package as the innermost frame. py-spy counts a worker blocked in a
    socket call as busy: gunicorn's share is mostly its sync worker lingering after each response until the
    client closes the connection (``close_graceful``), time the worker cannot serve anyone else.
    """
    proc.send_signal(2)  # SIGINT: py-spy writes its output and exits
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    if not path.exists():
        raise SystemExit(f"py-spy wrote nothing: {err.decode(errors='replace')[-1000:]}")
    ours, packages = collections.Counter(), collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [_frame(f) for f in stack.split(";")[1:]]  # the first is the process
        # a worker between requests waits in its accept loop (or the master in its sleep)
        if not any(f.startswith("SyncWorker.handle ") or f.startswith("ThreadWorker.handle ") for f, _ in frames):
            continue
        n = int(count)
        total += n
        packages[frames[-1][1]] += n
        for f in {f for f, _ in frames if f.split(" ", 1)[1].startswith("dashboard/")}:
            ours[f] += n
    if not total:
        return {"busy_samples": 0, "ours": [], "packages": []}
    return {"busy_samples": total, "ours": [(f, c / total) for f, c in ours.most_common(top)],
            "packages": [(f, c / total) for f, c in packages.most_common(top)]}


# --------------------------------------------------------------------------


def run_dataset(data_dir: Path, size: str, tmp: Path, clients: int, seconds: float, single_seconds: float,
                workers: int, threads: int, profile: bool, where: str = "local", urls: list[str] = ()) -> dict:
    name = make_dataset(data_dir, size)
    choice = session_choices(data_dir, name)
    with servers(where, data_dir, name, tmp, workers, threads, list(urls)) as (bases, masters):
        session = record_session(bases[0], name, choice)
        (RESULTS / f"load_session_{name}.json").write_text(json.dumps(session, indent=1) + "\n")
        # warm every worker of every server, unmeasured
        replay(bases, session, min(clients, 2 * workers * len(bases)), 60, max_passes=1)
        cpu, mine = servers_cpu_s(masters), _client_cpu_s()
        one = summarise(replay(bases, session, 1, single_seconds), single_seconds)
        one["server_cpu_s"], one["client_cpu_s"] = servers_cpu_s(masters) - cpu, _client_cpu_s() - mine
        cpu, mine = servers_cpu_s(masters), _client_cpu_s()
        prof = RESULTS / f"load_profile_{name}.txt"  # py-spy's collapsed stacks: a flame graph's input
        sampler = start_profile(tmp / f"gunicorn-{name}.log", prof) if profile else None
        many = summarise(replay(bases, session, clients, seconds), seconds)
        many["server_cpu_s"], many["client_cpu_s"] = servers_cpu_s(masters) - cpu, _client_cpu_s() - mine
        hot = stop_profile(sampler, prof) if sampler else None
        for run, length in ((one, single_seconds), (many, seconds)):
            run["server_cpu_ms_per_request"] = 1000 * run["server_cpu_s"] / max(run["overall"]["requests"], 1)
            run["server_cores_used"] = run["server_cpu_s"] / length
            run["client_cores_used"] = run["client_cpu_s"] / length
        machine_load = os.getloadavg()[1]  # other processes sharing the CPUs over the last 5 minutes
    row = {"dataset": name, "n": open_dataset(data_dir, name).n, "clients": clients, "seconds": seconds,
           "servers": where, "instances": len(bases),
           "load_average_5min": machine_load,
           "single_seconds": single_seconds, "workers": workers, "threads": threads, "cpus": os.cpu_count(),
           "session": [{k: r[k] for k in ("step", "kind", "method", "path", "status", "cacheable")} for r in session],
           "many": many, "one": one,
           "ratio_p95": many["overall"]["p95_ms"] / one["overall"]["p95_ms"]}
    if hot:
        row["profile"] = {**hot, "raw": str(prof)}
    report(row)
    return row


def _ms(v) -> str:
    return "-" if v is None else f"{v:,.0f}"


def report(row: dict) -> None:
    many, one = row["many"], row["one"]
    servers_used = {"local": f"gunicorn -w {row['workers']}",
                    "topology": f"the topology (2 × gunicorn -w {row['workers']}, Redis, PostgreSQL, a Celery worker)",
                    "url": f"{row['instances']} running server(s)"}[row.get("servers", "local")]
    print(f"\n{row['dataset']} ({row['n']:,} points): {row['clients']} clients for {row['seconds']:.0f} s, then 1 client "
          f"for {row['single_seconds']:.0f} s; {servers_used} on {row['cpus']} CPUs; session of "
          f"{len(row['session'])} requests ({sum(r['cacheable'] for r in row['session'])} cached after a pass)")
    print(f"  {'kind':<18}{'requests':>9}{'errors':>7}{'p50':>8}{'p95':>8}{'p99':>8}   1 client:{'p50':>6}{'p95':>7}"
          f"{'p99':>7}  p95 ratio")
    for k, s in list(many["kinds"].items()) + [("overall", many["overall"])]:
        o = one["kinds"].get(k) if k != "overall" else one["overall"]
        o = o or {"p50_ms": None, "p95_ms": None, "p99_ms": None}
        ratio = f"{s['p95_ms'] / o['p95_ms']:.1f}x" if o["p95_ms"] else "-"
        print(f"  {k:<18}{s['requests']:>9,}{s['errors']:>7}{_ms(s['p50_ms']):>8}{_ms(s['p95_ms']):>8}"
              f"{_ms(s['p99_ms']):>8}   {'':9}{_ms(o['p50_ms']):>6}{_ms(o['p95_ms']):>7}{_ms(o['p99_ms']):>7}  {ratio}")
    print(f"  errors: {many['overall']['errors']} (must be 0) {many['overall']['error_examples'] or ''}")
    print(f"  {many['per_s']:.1f} requests/s; p95 {_ms(many['overall']['p95_ms'])} ms with {row['clients']} clients vs "
          f"{_ms(one['overall']['p95_ms'])} ms alone: {row['ratio_p95']:.1f}x (goal: p95 under 1,000 ms on 2 cores)")
    if row.get("servers") == "url":
        print("  server CPU: not measured (the servers were not started here)")
    else:
        print(f"  server CPU: {many['server_cpu_ms_per_request']:.1f} ms per request with {row['clients']} clients "
              f"({many['server_cores_used']:.2f} of {row['cpus']} cores in use), "
              f"{one['server_cpu_ms_per_request']:.1f} ms alone; the clients used {many['client_cores_used']:.2f} cores; "
              f"machine load average {row['load_average_5min']:.1f} (other processes share the cores)")
    passes = one["kinds"].get("load:page", {}).get("requests") or 1
    cost = sorted(((s["mean_ms"] * s["requests"] / passes, k) for k, s in one["kinds"].items()), reverse=True)
    print(f"  one client, ms per session pass ({passes} passes): "
          + ", ".join(f"{k} {ms:.0f}" for ms, k in cost) + f"; total {sum(ms for ms, _ in cost):.0f}")
    if "profile" in row:
        prof = row["profile"]
        print(f"  where the workers spend their time ({prof['busy_samples']:,} busy samples; raw stacks in "
              f"{prof['raw']}):")
        print("    by package of the innermost frame: " + ", ".join(f"{p} {share:.0%}" for p, share in prof["packages"][:8]))
        print("    in this project's functions (inclusive):")
        for f, share in prof["ours"][:15]:
            print(f"    {share:6.1%}  {f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="digits,20000", help="comma-separated: 'digits' or a number of points")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=120, help="length of the many-client run")
    parser.add_argument("--single-seconds", type=float, help="length of the one-client run (default: a quarter of "
                        "--seconds, at least --seconds if that is under 20)")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1, help="gunicorn --threads (1: its default sync workers)")
    parser.add_argument("--profile", action="store_true", help="sample the workers with py-spy during the many-client run")
    parser.add_argument("--data-dir", type=Path, help="keep the datasets here (default: a temporary folder); with --url, "
                        "the data directory those servers serve")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--topology", action="store_true", help="load the hosted topology started here: two gunicorn "
                       "instances sharing Redis and PostgreSQL (see docs/deploy.md)")
    where.add_argument("--url", help="load servers already running: comma-separated base URLs (needs --data-dir)")
    args = parser.parse_args()
    if args.clients < 1 or args.seconds <= 0 or args.workers < 1:
        parser.error("--clients, --seconds and --workers must be positive")
    urls = [u.strip().rstrip("/") for u in (args.url or "").split(",") if u.strip()]
    if args.url is not None:
        if not urls or any(not u.startswith(("http://", "https://")) for u in urls):
            parser.error(f"--url takes comma-separated http(s):// base URLs, not {args.url!r}")
        if args.data_dir is None:
            parser.error("--url needs --data-dir, the data directory those servers serve")
    if args.profile and (args.url or args.topology):
        parser.error("--profile samples the one gunicorn started here: not with --url or --topology")
    where_name = "url" if urls else "topology" if args.topology else "local"
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    bad = [s for s in sizes if s != "digits" and not s.isdigit()]
    if bad or not sizes:
        parser.error(f"--sizes takes 'digits' or numbers of points, not {args.sizes!r}")
    single = args.single_seconds or (args.seconds if args.seconds < 20 else max(20.0, args.seconds / 4))
    RESULTS.mkdir(parents=True, exist_ok=True)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.data_dir or Path(tmp) / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        for size in sizes:
            row = run_dataset(data_dir, size, Path(tmp), args.clients, args.seconds, single, args.workers,
                              args.threads, args.profile, where_name, urls)
            results[row["dataset"]] = row
    print("saved", save({"local": "load", "topology": "load_topology", "url": "load_url"}[where_name], results))
    errors = sum(r["many"]["overall"]["errors"] + r["one"]["overall"]["errors"] for r in results.values())
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
