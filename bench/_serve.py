"""A server under test on a free loopback port, started and stopped by PID (our map, the Plotly page, Atlas)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(cmd: list[str], port: int, log: Path, *, env: dict | None = None, cwd: Path | None = None,
          timeout_s: float = 300, what: str = "server"):
    """Run ``cmd`` (which listens on ``port``), wait until ``/`` answers, yield its URL, then stop it.

    If it exits or does not answer within ``timeout_s``, SystemExit with the end of its log.
    """
    url = f"http://127.0.0.1:{port}"
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
    try:
        deadline = time.time() + timeout_s
        while True:
            try:
                urllib.request.urlopen(url + "/", timeout=2).read(1)
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise SystemExit(f"{what} did not start on {url} (log {log}):\n"
                                     f"{Path(log).read_text(errors='replace')[-3000:]}")
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
