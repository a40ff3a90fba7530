"""compose.yaml, the Dockerfile and docs/deploy.md cannot rot: every service's command is a real command
line of this checkout (run with ``--help``, or gunicorn's ``--check-config``), the shared volume and the
environment reach every part, the image installs extras that exist, and the commands of the deployment
guide parse. Docker itself is not needed."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]
DEPLOY = (ROOT / "docs" / "deploy.md").read_text()
#: Services that run this project's image, and the ones that must see the data at the same path.
OURS = ("web", "worker", "dask-scheduler", "dask-worker", "build")
SHARED = ("web", "worker", "dask-worker", "build")
#: What the web server and the Celery worker are configured with (read by dashboard.wsgi and the CLI).
ENV = ("DASHBOARD_DATA_DIR", "DASHBOARD_DB", "DASHBOARD_JOBS", "DASHBOARD_BROKER", "DASHBOARD_VISIBILITY_TIMEOUT")


def _argv(command: list[str]) -> list[str]:
    """A service's command as run with this checkout's Python."""
    head, *rest = command
    if head == "python":
        return [sys.executable, *rest]
    if head in ("dask", "gunicorn"):
        return [sys.executable, "-m", head, *rest]
    raise AssertionError(f"unexpected program {head!r}: teach this test how to check it")


def _run(argv: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=180,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


def test_compose_has_the_cluster_and_one_image_for_every_part():
    assert set(SERVICES) == {*OURS, "redis", "postgres"}
    for name in OURS:
        s = SERVICES[name]
        assert s["build"] == "." and s["image"] == "dashboard:latest", name
        assert isinstance(s["command"], list), f"{name}: the command as a list (no shell)"
    assert SERVICES["build"]["profiles"] == ["build"] and SERVICES["build"]["restart"] == "no"  # one-shot
    assert "--dask" in SERVICES["build"]["command"]
    assert SERVICES["web"]["command"][SERVICES["web"]["command"].index("-w") + 1] == "4"


def test_every_part_sees_the_data_and_the_services_at_the_same_places():
    env = SERVICES["web"]["environment"]
    assert set(ENV) <= set(env)
    assert env["DASHBOARD_JOBS"] == "celery"
    assert re.fullmatch(r"redis://redis:6379/\d+", env["DASHBOARD_BROKER"])
    pg = SERVICES["postgres"]["environment"]
    assert env["DASHBOARD_DB"] == (f"postgresql://{pg['POSTGRES_USER']}:{pg['POSTGRES_PASSWORD']}@postgres:5432/"
                                   f"{pg['POSTGRES_DB']}")
    for name in SHARED:
        s = SERVICES[name]
        assert f"data:{env['DASHBOARD_DATA_DIR']}" in s["volumes"], name
        assert s["environment"] == env, f"{name}: the same environment as web"
    assert set(COMPOSE["volumes"]) == {"data", "redis", "postgres"}
    assert int(env["DASHBOARD_VISIBILITY_TIMEOUT"]) >= 600  # longer than a long job
    scheduler = SERVICES["dask-scheduler"]["command"]
    port = scheduler[scheduler.index("--port") + 1]
    assert f"tcp://dask-scheduler:{port}" in SERVICES["dask-worker"]["command"]
    assert f"tcp://dask-scheduler:{port}" in SERVICES["build"]["command"]


@pytest.mark.parametrize("name", ["worker", "dask-scheduler", "dask-worker", "build"])
def test_every_service_command_is_a_real_command_line(name):
    """The command with ``--help`` appended: click refuses an unknown command or option before it helps."""
    r = _run(_argv(SERVICES[name]["command"]) + ["--help"])
    assert r.returncode == 0 and "Usage:" in r.stdout, r.stdout + r.stderr


def test_the_web_command_loads_the_app(tmp_path):
    """gunicorn's own check of its options and of the app (local jobs and SQLite here: no Redis to reach)."""
    command = SERVICES["web"]["command"]
    r = _run(_argv(command[:1] + ["--check-config"] + command[1:]),
             env={"DASHBOARD_DATA_DIR": str(tmp_path), "DASHBOARD_JOBS": "local", "DASHBOARD_DB": ""})
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_image_installs_extras_that_exist():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.startswith("#") and "\nFROM python:3.11-slim\n" in dockerfile
    extras = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    wanted = re.search(r'pip install "\.\[([^\]]+)\]"', dockerfile).group(1).split(",")
    assert set(wanted) <= extras and {"celery", "postgres", "dask"} <= set(wanted), wanted
    assert "gunicorn" in dockerfile
    for path in re.findall(r"^COPY (\S+) ", dockerfile, flags=re.M):
        for part in path.split():
            assert (ROOT / part).exists(), part


def _deploy_commands() -> list[str]:
    """The ``python -m dashboard …`` lines of docs/deploy.md's code blocks (from there on, continuations joined)."""
    text = "\n".join(re.findall(r"```(?:sh|bash)?\n(.*?)```", DEPLOY, flags=re.S)).replace("\\\n", " ")
    return [line[line.index("python -m dashboard"):] for line in text.splitlines() if "python -m dashboard" in line]


def test_the_deployment_guide_names_every_setting_and_its_commands_parse():
    for name in (*ENV, "DASHBOARD_DATASET", "DASHBOARD_CACHE_DIR", "DASK_DISTRIBUTED__WORKER__DAEMON"):
        assert name in DEPLOY, name
    for setup in ("## One machine", "## A team", "## A cluster"):
        assert setup in DEPLOY, setup
    commands = _deploy_commands()
    assert any(" worker" in c for c in commands) and any("--dask tcp://" in c for c in commands), commands
    for line in commands:
        argv = shlex.split(line.split(" #")[0])  # a comment after the command left out
        r = _run([sys.executable, *argv[1:], "--help"])
        assert r.returncode == 0, f"{line}\n{r.stdout}{r.stderr}"
