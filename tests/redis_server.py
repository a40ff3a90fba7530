"""A private redis-server for tests: on 127.0.0.1, a free port, a temporary folder, nothing saved to
disk, stopped by its PID. Skips where redis-server is not installed, except under CI, where it fails
(CI installs it, so the tests must really run there)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator

import pytest

from .conftest import _free_port


def redis_binary() -> str:
    """The redis-server executable; skips (or fails under CI) when there is none."""
    found = shutil.which("redis-server") or ("/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None)
    if not found:
        message = "redis-server is not installed (apt-get install redis-server)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@contextlib.contextmanager
def redis_server(timeout: float = 20.0) -> Iterator[str]:
    """Start a private redis-server; yields its URL (``redis://127.0.0.1:PORT/0``), stops it after."""
    binary = redis_binary()
    with tempfile.TemporaryDirectory(prefix="redis-") as tmp:
        port = _free_port()
        log = Path(tmp) / "redis.log"
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", tmp, "--logfile", str(log)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.time() + timeout
            while not _answers(port):
                if proc.poll() is not None or time.time() > deadline:
                    text = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                    pytest.fail(f"redis-server did not start on port {port}:\n{text}")
                time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """A private redis-server for a test module: its URL."""
    with redis_server() as url:
        yield url
