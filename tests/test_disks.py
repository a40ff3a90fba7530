"""Disks that refuse writes or fill up: a read-only data directory is served, a full one never fails a read."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from dashboard.computed import get_layout
from dashboard.store import open_dataset

from .conftest import running_server

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or sys.platform != "linux", reason="mounts a small tmpfs (root)")


@pytest.fixture
def small_disk(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def _fill(disk: Path) -> None:
    """Fill the disk to its last byte."""
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
    for block in (1 << 20, 4096, 1):
        try:
            while True:
                os.write(fd, b"\0" * block)
        except OSError:
            pass
    os.close(fd)


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


READS = ["/?dataset=digits&proj=pca&space=64", "/api/positions.bin?dataset=digits&proj=pca&space=64",
         "/api/colors.bin?dataset=digits&proj=pca&space=64&color=label", "/export/digits.csv?dataset=digits&space=64&proj=pca",
         "/files/digits/thumbs/0.png"]


def test_a_read_only_data_directory_is_served(small_disk, data_dir, tmp_path, monkeypatch):
    shutil.copytree(data_dir / "digits", small_disk / "digits")
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))  # where its cache goes instead
    with running_server(small_disk, "digits", tmp_path / "server.log") as url:
        for path in READS:
            status, body = _get(url + path)
            assert status == 200 and body, (path, status, body[:300])
    assert list((tmp_path / "user-cache" / "dashboard" / "cache-of").iterdir())
    assert "Traceback" not in (tmp_path / "server.log").read_text()


def test_a_full_disk_never_fails_a_read(small_disk, data_dir, tmp_path):
    shutil.copytree(data_dir / "digits", small_disk / "digits")
    get_layout(open_dataset(small_disk, "digits"), "64", "pca")  # a cached map
    _fill(small_disk)
    with running_server(small_disk, "digits", tmp_path / "server.log") as url:
        for path in READS + ["/api/positions.bin?dataset=digits&proj=pca&space=32"]:  # cached and not cached
            status, body = _get(url + path)
            assert status == 200 and body, (path, status, body[:300])
    assert "Traceback" not in (tmp_path / "server.log").read_text()


def test_a_type_change_on_a_disk_that_refuses_it_is_one_line_and_changes_nothing(small_disk, data_dir):
    from click.testing import CliRunner

    from dashboard.cli import cli

    shutil.copytree(data_dir / "digits", small_disk / "digits")
    manifest = (small_disk / "digits" / "manifest.json").read_bytes()
    _fill(small_disk)
    for refusal in ("the disk is full", "read-only"):
        if refusal == "read-only":
            subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
        done = CliRunner().invoke(cli, ["--data-dir", str(small_disk), "set-type", "digits", "label", "numeric"])
        assert done.exit_code == 1 and refusal in done.output.lower() and "Traceback" not in done.output, done.output
        assert done.output.strip().count("\n") == 0
        assert (small_disk / "digits" / "manifest.json").read_bytes() == manifest
