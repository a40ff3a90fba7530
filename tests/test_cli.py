"""The command line: every command, and one clear line for every user mistake."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.manifold import trustworthiness

from dashboard.cli import cli
from dashboard.store import open_dataset


def run(*args, data_dir=None):
    argv = (["--data-dir", str(data_dir)] if data_dir else []) + list(args)
    return CliRunner().invoke(cli, argv)


def test_help_lists_every_command():
    result = run("--help")
    assert result.exit_code == 0
    for cmd in ("serve", "build", "add", "list", "info", "export-layout"):
        assert cmd in result.output


def test_list_and_info(data_dir):
    out = run("list", data_dir=data_dir).output
    assert "digits" in out and "1,797 items" in out and "spaces: 64, 32, 16, 8" in out and "[complete]" in out
    info = run("info", "digits", data_dir=data_dir).output
    assert "1,797 items, type image, metric euclidean" in info
    assert "label: categorical" in info and "umap of 64" in info and "0 skipped" in info


def test_export_layout_is_trustworthy_and_cached(data_dir, digits_ds, tmp_path):
    out = tmp_path / "digits_umap.csv"
    first = run("export-layout", "digits", "--dim", "64", "--projection", "umap", "--output", str(out), data_dir=data_dir)
    assert first.exit_code == 0, first.output
    assert "cache" in first.output  # the build computed it already
    table = pd.read_csv(out)
    assert list(table.columns) == ["i", "name", "x", "y", "label", "ink"]
    assert len(table) == 1797
    assert trustworthiness(digits_ds.latent("64"), table[["x", "y"]].to_numpy(), n_neighbors=10) >= 0.9


def test_export_layout_with_parameters(data_dir, tmp_path):
    out = tmp_path / "pca.csv"
    r = run("export-layout", "digits", "--dim", "8", "--projection", "pca", "-o", str(out), data_dir=data_dir)
    assert r.exit_code == 0 and len(pd.read_csv(out)) == 1797
    bad = run("export-layout", "digits", "--projection", "tsne", "--n-neighbors", "5", "-o", str(out), data_dir=data_dir)
    assert bad.exit_code == 1 and "tsne: unknown parameter n_neighbors" in bad.output


@pytest.mark.parametrize(
    "args,message",
    [
        (["info", "nope"], "no dataset 'nope'"),
        (["export-layout", "digits", "--dim", "7", "-o", "x.csv"], "has no latent space '7'"),
        (["export-layout", "digits", "--projection", "umap", "--min-dist", "3", "-o", "x.csv"], "min_dist must be between"),
        (["build", "digits", "--platforms", "apple"], "--platforms does not apply to the digits recipe"),
        (["build", "emoji", "--platforms", "nokia"], "unknown platform nokia"),
        (["build", "digits", "--layouts", "mds"], "unknown projection mds"),
        (["add", "/does/not/exist"], "not a folder"),
        (["--dataset", "nope"], "no dataset 'nope'"),
        (["export-layout", "digits", "--projection", "pca", "-o", "/proc/version/x.csv"], "cannot access /proc/version"),
    ],
)
def test_user_mistakes_get_one_clear_line(data_dir, args, message):
    result = run(*args, data_dir=data_dir)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_no_datasets_yet(tmp_path):
    result = run("list", data_dir=tmp_path)
    assert "no datasets" in result.output and "build digits" in result.output
    served = run(data_dir=tmp_path)
    assert served.exit_code == 1 and "no datasets in" in served.output


def test_data_dir_from_environment(data_dir):
    result = CliRunner().invoke(cli, ["list"], env={"DASHBOARD_DATA_DIR": str(data_dir)})
    assert "digits" in result.output


def test_python_dash_m_runs_the_cli(data_dir):
    proc = subprocess.run(
        [sys.executable, "-m", "dashboard", "--data-dir", str(data_dir), "info", "nope"],
        capture_output=True, text=True,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("Error: no dataset 'nope'")
    assert "Traceback" not in proc.stderr


def test_default_model_offline_is_one_line_and_exit_1(tmp_path):
    """A fresh process with an empty Keras cache on a network that refuses connections (a proxy on a
    closed local port): Keras's own download fails at once, and the build stops before any work."""
    import os
    import socket

    from PIL import Image

    (tmp_path / "photos").mkdir()
    for k in range(3):
        Image.new("RGB", (20, 20), (80 * k, 0, 0)).save(tmp_path / "photos" / f"{k}.png")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    env = {**os.environ, "KERAS_HOME": str(tmp_path / "keras"), "NO_PROXY": "", "no_proxy": "",
           # TensorFlow's own start-up notices (oneDNN), printed on import whatever we do
           "TF_CPP_MIN_LOG_LEVEL": "2", "TF_ENABLE_ONEDNN_OPTS": "0"}
    env.update({k: closed for k in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")})
    proc = subprocess.run([sys.executable, "-m", "dashboard", "--data-dir", str(tmp_path / "data"), "build", "images",
                           "photos", "--images", str(tmp_path / "photos")], capture_output=True, text=True, env=env,
                          timeout=300)
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1, proc.stdout + proc.stderr
    assert lines[0].startswith("Error: --model inception_v3 needs its ImageNet weights and Keras could not download")
    assert "pass --weights FILE" in lines[0] and "--model pixels" in lines[0] and "works offline" in lines[0]
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").iterdir())


def test_build_digits_from_the_cli(tmp_path):
    result = run("build", "digits", "--layouts", "pca", data_dir=tmp_path)
    assert result.exit_code == 0, result.output
    assert "digits: 1,797 items (image), state complete" in result.output
    again = run("build", "digits", "--layouts", "pca", data_dir=tmp_path)  # nothing to do: one line says so
    assert again.exit_code == 0, again.output
    build_id = open_dataset(tmp_path, "digits").build_id
    assert again.stdout.strip().splitlines() == [again.stdout.strip()]
    assert again.stdout.startswith(f"digits is up to date (build {build_id}, 1,797 items, 4 latent spaces; "
                                   "layouts pca ready;")


def test_sigterm_stops_the_servers_children_even_with_a_request_in_flight(tmp_path):
    """A server with a job running (a request thread waiting on it, a VAE trainer beside it) is stopped
    with `kill`: its children must go with it, though the interpreter then waits on that thread."""
    import os
    import signal
    import time

    import psutil

    script = tmp_path / "server.py"
    script.write_text(
        "import subprocess, sys, threading, time\n"
        "from dashboard.cli import _stop_children_at_exit\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])\n"
        "_stop_children_at_exit()\n"
        "threading.Thread(target=time.sleep, args=(300,)).start()  # non-daemon, like a request on a job\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(300)\n"
    )
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        child = int(proc.stdout.readline())
        assert psutil.pid_exists(child)
        os.kill(proc.pid, signal.SIGTERM)
        deadline = time.time() + 15
        while time.time() < deadline and psutil.pid_exists(child) and psutil.Process(child).status() != "zombie":
            time.sleep(0.2)
        assert not psutil.pid_exists(child) or psutil.Process(child).status() == "zombie"
    finally:
        proc.kill()
        proc.wait()


def test_add_on_a_folder_of_images_says_how_to_build_it(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.png").write_bytes(b"")
    r = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "data"), "add", str(tmp_path / "photos")])
    assert r.exit_code == 1 and r.output.count("\n") == 1
    assert "neither an LSC folder" in r.output and "build images NAME --images" in r.output


def test_info_groups_repeated_notes_and_skip_reasons(tmp_path):
    """85 animated files give one note line with the count and an example, not 85 lines."""
    import numpy as np

    from dashboard.store import DatasetWriter

    with DatasetWriter(tmp_path, "gifs") as w:
        w.set_info(type="other", metric="euclidean")
        w.write_meta(pd.DataFrame({"i": np.arange(3), "name": ["a", "b", "c"]}))
        w.write_latent(2, np.zeros((3, 2), np.float32), kind="raw")
        w.report.notes += [f"anim/{k}.gif: animation, first frame used" for k in range(85)]
        w.report.notes += ["hotspots from centroids.json: 12", "metadata: 3 rows have no image"]
        for k in range(30):
            w.report.skip(f"docs/{k}.txt", "not an image")
        w.report.skip("bad.png", "cannot decode: truncated")
        w.finish()
    out = run("info", "gifs", data_dir=tmp_path).output
    lines = out.splitlines()
    assert "  note: 85 × animation, first frame used (e.g. anim/0.gif)" in lines
    assert "animation" not in out.replace("85 × animation", "")
    assert "  note: hotspots from centroids.json: 12" in lines and "  note: metadata: 3 rows have no image" in lines
    assert "build report: 31 skipped input(s)" in lines
    assert "  30 × not an image (e.g. docs/0.txt)" in lines and "  bad.png: cannot decode: truncated" in lines
