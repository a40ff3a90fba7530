"""The hosted topology of docs/deploy.md, started for real on loopback (tests/topology.py): redis-server,
PostgreSQL, a Dask scheduler with two workers, Celery workers and two gunicorn instances sharing one data
directory. A projection asked for through web instance A's page runs on a Celery worker; a worker killed
mid-job leaves its job to a second one, which finishes it once; ``build images --dask`` on the two Dask
workers gives the features built here; a group saved through A is listed by B.

Selected with ``-m topology``; about 70 s on 2 cores, most of it starting Python processes."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest

for _module, _extra in (("celery", "celery"), ("distributed", "dask"), ("gunicorn", "test"), ("psycopg", "postgres")):
    try:
        __import__(_module)
    except ImportError:
        if os.environ.get("CI"):  # CI installs the test extra: there, a missing engine is a failure
            raise
        pytest.skip(f"{_module} is not installed: pip install 'dashboard[{_extra}]'", allow_module_level=True)

from dashboard.layouts import vectors as group_ids  # noqa: E402
from dashboard.layouts import viewer as ids  # noqa: E402

from .topology import Processes, boot_view, dash_callback, topology, wait_for  # noqa: E402

pytestmark = pytest.mark.topology

VISIBILITY = 4  # seconds before a killed worker's job is delivered again (its lock lives 2 s)
QUERY = "dataset=digits&space={space}&proj=slow&seconds={seconds}"
PLUGIN = "tests.slow_projection"


@pytest.fixture(scope="module")
def hosted(tmp_path_factory):
    """The topology over a data directory holding digits (PCA cached); the slow projection's run logs."""
    from dashboard.ingest import digits

    work = tmp_path_factory.mktemp("topology")
    data = work / "data"
    digits.build(data, layouts=("pca",))
    logs = {"started": work / "runs.log", "finished": work / "done.log"}
    env = {"DASHBOARD_PLUGINS": PLUGIN, "DASHBOARD_VISIBILITY_TIMEOUT": str(VISIBILITY),
           "SLOW_PROJECTION_LOG": str(logs["started"]), "SLOW_PROJECTION_DONE_LOG": str(logs["finished"])}
    with topology(data, work, dataset="digits", env=env) as top:
        top.logs = logs
        yield top


def _pids(log: Path) -> list[int]:
    return [int(x) for x in log.read_text().split()] if log.exists() else []


def _children(pid: int) -> set[int]:
    import psutil

    return {c.pid for c in psutil.Process(pid).children(recursive=True)}


def _ask(base: str, query: str) -> dict:
    """What a tab opening ``base/?query`` does: the page's first view, then the view's job requested
    (request_job runs on load); returns the job."""
    view = boot_view(base, query)
    assert view["pending"] and view["job"], view
    answer = dash_callback(base, [(ids.JOB, "data")], {(ids.VIEW, "data"): view, (ids.JOB, "data"): None})
    assert answer[ids.JOB]["data"] == view["job"]
    return view["job"]


def _follow(base: str, job: dict, tick: int) -> dict:
    """One poll of the page's progress bar (follow_job) on ``base``."""
    return dash_callback(base, [(ids.READY, "data"), (ids.PROGRESS, "hidden"), (ids.PROGRESS_BAR, "value"),
                                (ids.PROGRESS_LABEL, "children"), (ids.JOB_POLL, "disabled")],
                         {(ids.JOB, "data"): job, (ids.JOB_POLL, "n_intervals"): tick},
                         changed=[(ids.JOB_POLL, "n_intervals")])


def _until_ready(base: str, job: dict, timeout: float) -> None:
    ticks = iter(range(1, 10_000))

    def ready():
        answer = _follow(base, job, next(ticks))
        label = answer.get(ids.PROGRESS_LABEL, {}).get("children", "")
        assert "failed" not in str(label) and "cannot start" not in str(label), label
        return answer.get(ids.READY, {}).get("data") == job

    wait_for(ready, timeout, f"the job {job} to be ready")


def _running(base: str, job: dict, timeout: float = 60) -> None:
    """Until the page on ``base`` shows the job computing, past its start."""
    ticks = iter(range(1, 10_000))

    def computing():
        label = str(_follow(base, job, next(ticks)).get(ids.PROGRESS_LABEL, {}).get("children", ""))
        return label.startswith("Computing") and label.rstrip().endswith(("%", "left")) and " 0%" not in label

    wait_for(computing, timeout, f"the job {job} to run")


def test_a_projection_asked_through_one_web_instance_runs_on_a_celery_worker(hosted):
    a, b = hosted.web
    worker = hosted.celery[0]
    job = _ask(a, QUERY.format(space=64, seconds=3))
    assert job == {"dataset": "digits", "space": "64", "proj": "slow", "params": {"seconds": 3.0}}
    _running(b, job)  # the other instance sees it computing: the job's state is in Redis
    _until_ready(b, job, 60)
    started, finished = _pids(hosted.logs["started"]), _pids(hosted.logs["finished"])
    assert started == finished and len(started) == 1, (started, finished)
    assert started[0] in _children(worker.pid)  # computed in the worker's pool, not by a web process
    for web in hosted.gunicorns:
        assert started[0] not in _children(web.pid) | {web.pid}
    # both instances now draw the projection from the shared cache, with nothing pending (a page load's
    # view is reused for a few seconds by the process that resolved it: mapview.RECENT_SECONDS)
    from dashboard.mapview import RECENT_SECONDS

    for base in (a, b):
        wait_for(lambda: not boot_view(base, QUERY.format(space=64, seconds=3))["pending"], RECENT_SECONDS + 10,
                 f"{base} to draw the finished projection")


def test_a_worker_killed_mid_job_leaves_it_to_a_second_worker_which_finishes_it_once(hosted):
    a, b = hosted.web
    first = hosted.celery[0]
    before = len(_pids(hosted.logs["started"]))
    done_before = _pids(hosted.logs["finished"])
    query = QUERY.format(space=32, seconds=6)
    job = _ask(a, query)
    _running(a, job)
    pid = _pids(hosted.logs["started"])[-1]
    assert pid in _children(first.pid)
    Processes.stop(first, signal.SIGKILL)  # kill -9 of the worker, mid-job: its pool process goes with it
    wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 10, "the killed worker's pool process to end")
    second = hosted.start_celery_worker("2")
    # nobody asks again (a page load only reads): the broker gives the unacknowledged message to the second worker
    wait_for(lambda: not boot_view(b, query)["pending"], 90, "the job to run again")
    _until_ready(b, job, 30)  # and a tab polling B sees it ready
    started, finished = _pids(hosted.logs["started"])[before:], _pids(hosted.logs["finished"])[len(done_before):]
    assert len(started) == 2 and started[0] == pid, started
    assert finished == [started[1]], (started, finished)  # exactly one finished run: the second worker's
    assert started[1] in _children(second.pid)
    # the layout is the slow projection's, whichever worker made it
    from dashboard.compute import projections
    from dashboard.computed import get_layout
    from dashboard.store import open_dataset

    from . import slow_projection  # noqa: F401 - registers "slow" here too, to read its cached layout

    ds = open_dataset(hosted.data_dir, "digits")
    lay = get_layout(ds, "32", "slow", cached_only=True, seconds=6.0)
    np.testing.assert_allclose(lay.xy, projections.normalize_layout(np.asarray(ds.latent("32")[:, :2], np.float32)))


N_IMAGES = 300


@pytest.fixture(scope="module")
def pictures(tmp_path_factory) -> Path:
    """A few hundred generated pictures of varied sizes in two folders."""
    from PIL import Image

    root = tmp_path_factory.mktemp("pictures")
    rng = np.random.default_rng(18)
    for k in range(N_IMAGES):
        sub = root / ("a" if k % 3 else "b")
        sub.mkdir(exist_ok=True)
        h, w = 24 + k % 17, 30 + k % 11
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(sub / f"p{k:03d}.png")
    return root


def test_features_built_on_two_dask_workers_equal_the_features_built_here(hosted, pictures, tmp_path):
    import distributed
    from click.testing import CliRunner

    from dashboard.cli import cli
    from dashboard.store import open_dataset

    def build(data: Path, *extra: str):
        r = CliRunner().invoke(cli, ["--data-dir", str(data), "build", "images", "pics", "--images", str(pictures),
                                     "--model", "pixels", "--layouts", "none", *extra])
        assert r.exit_code == 0, r.output
        return open_dataset(data, "pics")

    here = build(tmp_path / "here")
    with distributed.Client(hosted.scheduler, timeout="20s") as client:
        with distributed.get_task_stream(client=client) as tasks:
            there = build(tmp_path / "there", "--dask", hosted.scheduler)
        workers = set(client.scheduler_info()["workers"])
    assert there.n == here.n == N_IMAGES
    assert list(there.meta["name"]) == list(here.meta["name"])
    np.testing.assert_allclose(there.latent("pixels"), here.latent("pixels"), rtol=1e-5, atol=1e-6)
    ran_on = {t["worker"] for t in tasks.data}
    assert ran_on == workers and len(workers) == 2, ran_on  # both workers took batches


def test_a_group_saved_through_one_web_instance_is_listed_by_the_other(hosted):
    a, b = hosted.web
    members = list(range(0, 1797, 7))
    saved = dash_callback(a, [(group_ids.MESSAGE, "children"), (group_ids.VERSION, "data"), (ids.SELECTION, "data"),
                              (group_ids.GROUP_NAME, "value")], {
        (group_ids.GROUP_SAVE, "n_clicks"): 1, (group_ids.GROUP_NAME, "value"): "sevens from A",
        (ids.SELECTION, "data"): members, (ids.DATASET, "value"): "digits", (group_ids.VERSION, "data"): 0,
    }, changed=[(group_ids.GROUP_SAVE, "n_clicks")])
    assert f"Saved group 'sevens from A' ({len(members)} items)" in json.dumps(saved[group_ids.MESSAGE])
    version = saved[group_ids.VERSION]["data"]
    assert saved[ids.SELECTION]["data"] == []  # saved: the selection clears
    listed = dash_callback(b, [(group_ids.GROUP_LIST, "children"), (group_ids.VECTOR_LIST, "children"),
                               (group_ids.VECTOR_START, "options"), (group_ids.VECTOR_END, "options"),
                               (ids.VECTOR, "options")],
                           {(group_ids.VERSION, "data"): version, (ids.DATASET, "value"): "digits",
                            (ids.DIM, "value"): "64"}, changed=[(group_ids.VERSION, "data")])
    options = listed[group_ids.VECTOR_START]["options"]
    assert [o["label"] for o in options] == [f"sevens from A ({len(members)})"]
    assert "sevens from A" in json.dumps(listed[group_ids.GROUP_LIST])
    # in PostgreSQL, not in a SQLite file of the data directory
    assert not (hosted.data_dir / "groups.sqlite").exists()
    import sqlalchemy

    engine = sqlalchemy.create_engine(hosted.db.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as db:
            assert db.execute(sqlalchemy.text("SELECT name FROM groups")).scalars().all() == ["sevens from A"]
    finally:
        engine.dispose()

