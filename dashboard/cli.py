"""The command line: a thin adapter over the library.

``python -m dashboard --dataset NAME`` serves (building a known recipe
first when it is missing); ``build``, ``add``, ``list``, ``info`` and
``export-layout`` reach everything else. Errors the user can fix print one
line (or one line per problem) and exit non-zero, without a traceback.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
import threading
import time
from pathlib import Path

import click

from .errors import DashboardError
from .registry import PROJECTIONS
from .schema import CHOOSABLE_TYPES

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
DB_HELP = ("Database of groups, vectors and hotspots, shared by every server given it: postgresql://USER@HOST:PORT/NAME "
           "[default: groups.sqlite in the data directory] (env: DASHBOARD_DB).")


class _Group(click.Group):
    """Turns our user-facing errors into click's one-line errors."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except DashboardError as e:
            raise click.ClickException(str(e)) from None
        except OSError as e:
            # A path the user gave that cannot be read or written (permissions,
            # a full disk): say which, without a traceback.
            if e.filename is None:
                raise
            raise click.ClickException(f"cannot access {e.filename}: {e.strerror}") from None


def _csv_list(value: str | None, cast=str) -> tuple | None:
    if value is None:
        return None
    try:
        return tuple(cast(v.strip()) for v in value.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(f"expected a comma-separated list, got {value!r}") from None


def _projection_option(ctx, param, value: str) -> str:
    """A registered projection (read at run time, so a projection registered later is accepted too)."""
    if value not in PROJECTIONS:
        raise click.BadParameter(f"unknown projection {value!r} (choose from {', '.join(PROJECTIONS)})")
    return value


def _param_option(ctx, param, values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected NAME=VALUE, got {item!r}")
        out[key.strip().replace("-", "_")] = value.strip()
    return out


def _layouts_option(value: str) -> tuple[str, ...]:
    if value.strip().lower() == "none":
        return ()
    chosen = _csv_list(value) or ()
    bad = [m for m in chosen if m not in PROJECTIONS]
    if bad:
        raise click.BadParameter(f"unknown projection {', '.join(bad)} (choose from {', '.join(PROJECTIONS)} or none)")
    return chosen


@click.group(cls=_Group, invoke_without_command=True, context_settings=CONTEXT)
@click.option(
    "--data-dir",
    envvar="DASHBOARD_DATA_DIR",
    default="data",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder holding the datasets (env: DASHBOARD_DATA_DIR).",
)
@click.option("--dataset", help="Dataset to open; a known recipe (digits, emoji, words) is built first if missing.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to serve on (0.0.0.0 to share).")
@click.option("--port", default=8050, show_default=True, type=click.IntRange(1, 65535))
@click.option("--db", envvar="DASHBOARD_DB", metavar="URL", help=DB_HELP)
@click.option("--jobs", "jobs_engine", envvar="DASHBOARD_JOBS", type=click.Choice(["local", "celery"]),
              help="Where background jobs run [default: local]; see serve (env: DASHBOARD_JOBS).")
@click.option("--broker", envvar="DASHBOARD_BROKER", help="--jobs celery: redis://HOST:PORT/DB (env: DASHBOARD_BROKER).")
@click.version_option(package_name="dashboard")
@click.pass_context
def cli(ctx: click.Context, data_dir: Path, dataset: str | None, host: str, port: int, db: str | None,
        jobs_engine: str, broker: str | None) -> None:
    """Maps of image collections and latent spaces.

    With no command, serves the dashboard: python -m dashboard --dataset emoji
    """
    ctx.obj = {"data_dir": data_dir, "jobs": jobs_engine, "broker": broker}
    _use_db(db)
    if ctx.invoked_subcommand is None:
        ctx.invoke(serve, dataset=dataset, host=host, port=port, db=db, jobs_engine=jobs_engine, broker=broker)


def _use_db(db: str | None) -> None:
    """Every groups store of this process and of its children (jobs, builds) uses database ``db``."""
    if db:
        from .groupsdb import DB_ENV

        os.environ[DB_ENV] = db


@cli.command()
@click.option("--dataset", help="Dataset to open first.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8050, show_default=True, type=click.IntRange(1, 65535))
@click.option("--db", metavar="URL", help=DB_HELP)
@click.option("--jobs", "jobs_engine", envvar="DASHBOARD_JOBS", type=click.Choice(["local", "celery"]),
              help="Where background jobs (slow layouts, graphs, the emoji VAE training) run: a process per job on "
                   "this machine (local, the default), or Celery workers (`python -m dashboard worker`) through --broker (env: DASHBOARD_JOBS).")
@click.option("--broker", envvar="DASHBOARD_BROKER",
              help="--jobs celery: the Redis URL, redis://HOST:PORT/DB, broker and result backend "
                   "(env: DASHBOARD_BROKER).")
@click.pass_obj
def serve(obj: dict, dataset: str | None, host: str, port: int, db: str | None = None,
          jobs_engine: str | None = None, broker: str | None = None) -> None:
    """Serve the dashboard (the default command)."""
    from . import jobs
    from .app import create_app
    from .groupsdb import check_groups_database
    from .ingest import RECIPES
    from .mapview import prepare
    from .store import build_in_progress, list_datasets, open_dataset

    _use_db(db)
    data_dir = obj["data_dir"]
    check_groups_database(data_dir)  # before a build: a wrong --db is said at once
    jobs_engine = jobs_engine or obj.get("jobs") or "local"  # `--jobs` given before the command counts too
    broker = broker or obj.get("broker")
    if broker and jobs_engine != "celery":
        raise click.UsageError("--broker applies to --jobs celery")
    jobs.configure(jobs_engine, broker)  # an unreachable broker stops here, in one line
    if dataset:
        if not (data_dir / dataset / "manifest.json").exists():
            if dataset not in RECIPES:
                open_dataset(data_dir, dataset)  # raises, listing what exists
            click.echo(f"{dataset} is not built yet in {data_dir}: building it first.", err=True)
            _build_for_serving(data_dir, dataset)
        ds = open_dataset(data_dir, dataset)
        if ds.state != "complete" and _is_emoji(ds):
            if build_in_progress(data_dir, dataset):
                click.echo(f"{dataset} is still being built by another process ({ds.state}); the map shows what is finished.", err=True)
            else:
                _say_training(dataset, jobs.train_missing(data_dir, dataset), jobs_engine)
    elif not list_datasets(data_dir):
        raise DashboardError(
            f"no datasets in {data_dir}: build one with `python -m dashboard build digits`, or pass --dataset digits"
        )
    app = create_app(data_dir, dataset=dataset)
    if dataset:  # its first view computed while the user opens the page (after a cache was wiped, say)
        threading.Thread(target=prepare, args=(open_dataset(data_dir, dataset),), daemon=True).start()
    _stop_children_at_exit()
    click.echo(f"Dashboard on http://{host}:{port}/ (data: {data_dir}); Ctrl-C stops it.", err=True)
    app.run(host=host, port=port, debug=False)


def _stop_children_at_exit() -> None:
    """Background jobs (projections, the emoji VAE training) run in child processes on the local engine:
    stop them with the server, or a killed server leaves its port taken and a job running. The one place that
    handles SIGTERM for the server."""
    import psutil

    me = os.getpid()

    def stop() -> None:
        if os.getpid() != me:  # a forked job exiting: not the server
            return
        children = psutil.Process(me).children(recursive=True)
        for child in children:
            with contextlib.suppress(psutil.Error):
                child.terminate()
        psutil.wait_procs(children, timeout=5)

    atexit.register(stop)

    def on_sigterm(*_) -> None:
        # Stop the children here, not only at exit: the interpreter joins running threads (a request
        # waiting on a job) before atexit handlers run, so a server with a job in flight never got there.
        stop()
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_sigterm)


def _build_for_serving(data_dir: Path, name: str) -> None:
    from .ingest import recipe

    start = time.perf_counter()
    if name == "emoji":
        # Images and the PCA space first, so the map opens in a minute;
        # the VAEs train in a background job while the app serves.
        ds = recipe("emoji").build(data_dir, quick=True)
    else:
        ds = recipe(name).build(data_dir)
    from .ingest.common import summary

    click.echo(summary(ds, time.perf_counter() - start), err=True)


def _is_emoji(ds) -> bool:
    from .ingest.emoji import is_emoji

    return is_emoji(ds)


def _say_training(name: str, s: dict | None, jobs_engine: str) -> None:
    """One line on the VAE training :func:`jobs.train_missing` started: on the local engine a process the
    server supervises (stopped with the server; the next start resumes it dim by dim), on Celery a
    worker's task. Each space joins the map's menu as it finishes."""
    if s is None:
        return
    where = "on the Celery workers" if jobs_engine == "celery" else "in a background process"
    if s["state"] == "running":
        click.echo(f"{name}'s VAEs are training {where} ({s['progress']:.0%} done); the map shows PCA meanwhile.",
                   err=True)
    else:
        click.echo(f"Training {name}'s VAEs {where}; the map shows PCA meanwhile and adds each space as it finishes.",
                   err=True)


@cli.command()
@click.option("--broker", envvar="DASHBOARD_BROKER", required=True,
              help="The Redis URL the server was given, redis://HOST:PORT/DB (env: DASHBOARD_BROKER).")
@click.option("--data-dir", "worker_data_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where this machine mounts the server's data directory [default: the path the server sends].")
@click.option("--concurrency", type=click.IntRange(1), help="Jobs run at once [default: the number of CPUs].")
@click.option("--loglevel", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
def worker(broker: str, worker_data_dir: Path | None, concurrency: int | None, loglevel: str) -> None:
    """Run background jobs for `serve --jobs celery` (a Celery worker on Redis).

    \b
    The same as:
      DASHBOARD_BROKER=redis://HOST:PORT/DB celery -A dashboard.celery_app worker --concurrency N
    (DASHBOARD_VISIBILITY_TIMEOUT: seconds after which a killed worker's job is delivered again,
    default 3600; it must exceed the longest job.) Start as many workers, on as many machines, as
    you like; each job runs once.
    """
    try:
        from .celery_app import run_worker
    except ImportError as e:
        raise DashboardError(f"the worker needs the celery extra ({e.name} is missing): "
                             "pip install 'dashboard[celery]'") from None
    run_worker(broker, data_dir=worker_data_dir, concurrency=concurrency, loglevel=loglevel)


@cli.command()
@click.argument("recipe", type=click.Choice(["digits", "emoji", "words", "images"]))
@click.argument("name_arg", metavar="[NAME]", required=False)
@click.option("--name", help="Dataset name (default: the recipe's name; images: required, or give NAME).")
@click.option("--force", is_flag=True, help="Rebuild from scratch instead of resuming.")
@click.option(
    "--layouts",
    default="pca,umap",
    show_default=True,
    help="Layouts to compute at build time (PCA of every space; the others for the default space), or 'none'.",
)
@click.option("--platforms", help="emoji: comma-separated platforms [default: google,twitter; apple and facebook are proprietary].")
@click.option("--dims", help="emoji, images --model vae: VAE latent dimensions [default: 4,8,16,32,64,128; images: 32].")
@click.option("--epochs", type=click.IntRange(1, 10_000), help="emoji, images --model vae: training epochs per VAE [default: 25].")
@click.option("--limit", type=click.IntRange(1), help="emoji: use only the first N emoji (per platform).")
@click.option("--quick", is_flag=True, help="emoji: stop after the images and the PCA space.")
@click.option("--download-dir", type=click.Path(file_okay=False, path_type=Path), help="emoji, images: where npm tarballs are kept.")
@click.option("--n-words", type=click.IntRange(10), help="words: how many words [default: 10000].")
@click.option("--images", "images_glob", help="images: a glob of image files (quote it; ** recurses), a folder, or a text file of IIIF manifest URLs.")
@click.option("--metadata", help="images: a CSV, or a glob of JSON files, with a filename column (PixPlot's columns).")
@click.option("--model", type=click.Choice(["inception_v3", "mobilenet_v3", "pixels", "vae"]),
              help="images: features [default: inception_v3, PixPlot's; Keras downloads its ImageNet weights once].")
@click.option("--weights", type=click.Path(dir_okay=False), help="images: the Keras weights file of --model (offline: no download).")
@click.option("--runtime", metavar="RUNTIME", help="images: what runs --model: auto (OpenVINO, else ONNX Runtime, when installed and "
              "their features match TensorFlow's), tensorflow, openvino, onnx, or openvino-bf16 (bfloat16 on CPUs "
              "that have it: faster, features within 1 % of float32's, cached apart) [default: auto].")
@click.option("--vectors", type=click.Path(dir_okay=False),
              help="images: your own features (.npy/.h5/.parquet), one row per image file in sorted path order.")
@click.option("--max-images", type=click.IntRange(1), help="images: use at most N files.")
@click.option("--shuffle", is_flag=True, default=None, help="images: shuffle the files (with --seed) before --max-images.")
@click.option("--seed", type=int, help="images: seed of --shuffle [default: 24].")
@click.option("--metric", type=click.Choice(["cosine", "euclidean"]), help="images: distance between features [default: cosine].")
@click.option("--min-cluster-size", type=click.IntRange(2), help="images: HDBSCAN min_cluster_size of the hotspots [default: 20].")
@click.option("--max-clusters", type=click.IntRange(0), help="images: keep the N largest hotspots [default: 10].")
@click.option("--cell-size", type=click.Choice(["16", "32", "64", "128"]), help="images: atlas cell in px [default: 64 up to 20,000 images, else 32].")
@click.option("--n-neighbors", type=click.IntRange(2, 200), help="images: UMAP n_neighbors [default: 15].")
@click.option("--min-dist", type=click.FloatRange(0, 1), help="images: UMAP min_dist [default: 0.01, PixPlot's].")
@click.option("--geojson", type=click.Path(dir_okay=False), help="images: GeoJSON shapes drawn under the geographic layout.")
@click.option("--decode-timeout", type=click.FloatRange(1), help="images: seconds one file may take to decode before it is skipped [default: 60].")
@click.option("--dask", help="images: decode and embed on Dask: local:N (N worker processes here) or tcp://HOST:8786 "
              "(a running scheduler; its workers need dashboard installed and the image folder and the data "
              "directory at the same paths, e.g. a shared volume).")
@click.pass_obj
def build(obj: dict, recipe: str, name_arg, name, force, layouts, platforms, dims, epochs, limit, quick, download_dir,
          n_words, images_glob, metadata, model, weights, runtime, vectors, max_images, shuffle, seed, metric,
          min_cluster_size, max_clusters, cell_size, n_neighbors, min_dist, geojson, decode_timeout, dask) -> None:
    """Build a dataset: digits, emoji or words from real sources, or images from your own folder."""
    from .ingest import recipe as get_recipe

    emoji_only = {"--platforms": platforms, "--dims": dims, "--epochs": epochs, "--limit": limit,
                  "--quick": quick or None, "--download-dir": download_dir}
    words_only = {"--n-words": n_words}
    images_only = {"--images": images_glob, "--metadata": metadata, "--model": model, "--weights": weights,
                   "--runtime": runtime, "--vectors": vectors, "--max-images": max_images, "--shuffle": shuffle, "--seed": seed,
                   "--metric": metric, "--min-cluster-size": min_cluster_size, "--max-clusters": max_clusters,
                   "--cell-size": cell_size, "--n-neighbors": n_neighbors, "--min-dist": min_dist, "--geojson": geojson,
                   "--decode-timeout": decode_timeout, "--dask": dask}
    vae_flags = ("--dims", "--epochs")  # also train an image folder's VAE
    misplaced = [flag for flag, v in emoji_only.items() if v is not None and recipe != "emoji"
                 and not (recipe == "images" and model == "vae" and flag in vae_flags)
                 and not (recipe == "images" and flag == "--download-dir")]  # where the world outline is kept
    misplaced += [flag for flag, v in words_only.items() if v is not None and recipe != "words"]
    misplaced += [flag for flag, v in images_only.items() if v is not None and recipe != "images"]
    if name_arg and recipe != "images":
        misplaced.append("NAME (use --name)")
    if misplaced:
        raise click.UsageError(f"{', '.join(misplaced)} does not apply to the {recipe} recipe")
    kwargs: dict = {"fresh": force, "layouts": _layouts_option(layouts)}
    name = name or name_arg
    if name:
        kwargs["name"] = name
    if recipe == "images":
        if not name or not images_glob:
            raise click.UsageError("build images needs a NAME and --images, e.g. "
                                   "build images photos --images \"photos/**/*.jpg\"")
        from .ingest import images

        kwargs.update(images=images_glob, metadata=metadata, model=model or "inception_v3", weights=weights,
                      runtime=runtime or "auto", vectors=vectors, max_images=max_images, shuffle=bool(shuffle),
                      seed=24 if seed is None else seed, metric=metric or "cosine",
                      min_cluster_size=min_cluster_size or 20, max_clusters=10 if max_clusters is None else max_clusters,
                      cell_size=int(cell_size) if cell_size else None, n_neighbors=n_neighbors or 15,
                      min_dist=0.01 if min_dist is None else min_dist, geojson=geojson, download_dir=download_dir,
                      decode_timeout=decode_timeout or images.DECODE_TIMEOUT, dask=dask)
        if model == "vae":
            kwargs["dims"] = _csv_list(dims, int) if dims else (32,)
            if not kwargs["dims"] or min(kwargs["dims"]) < 1:
                raise click.BadParameter("--dims: expected positive integers such as 16,32")
            kwargs["epochs"] = epochs or 25
        _run_build(lambda: images.build(obj["data_dir"], **kwargs), obj["data_dir"], name, kwargs["layouts"])
        return
    if recipe == "emoji":
        from .ingest.emoji import parse_platforms

        kwargs.update(platforms=parse_platforms(platforms), limit=limit, quick=quick, download_dir=download_dir)
        if dims:
            kwargs["dims"] = _csv_list(dims, int)
            if not kwargs["dims"] or min(kwargs["dims"]) < 1:
                raise click.BadParameter("--dims: expected positive integers such as 4,8,16")
        if epochs:
            kwargs["epochs"] = epochs
    if recipe == "words" and n_words:
        kwargs["n_words"] = n_words
    _run_build(lambda: get_recipe(recipe).build(obj["data_dir"], **kwargs), obj["data_dir"], name or recipe,
               () if quick else kwargs["layouts"])  # --quick stops before the layouts


def _run_build(run, data_dir: Path, name: str, layouts: tuple[str, ...] = ()) -> None:
    """Run a build, then print its summary (one line when it only extended the served version);
    Ctrl-C keeps what was finished."""
    from .ingest.common import summary, what_changed
    from .mapview import prepare
    from .store import open_dataset

    try:
        before = open_dataset(data_dir, name)
    except DashboardError:
        before = None
    start = time.perf_counter()
    try:
        ds = run()
    except KeyboardInterrupt:
        click.echo(
            "\nInterrupted. What was finished is kept; run the same command again to resume.",
            err=True,
        )
        sys.exit(130)
    prepare(ds, progress=True)  # the first visit draws at once
    seconds = time.perf_counter() - start
    click.echo(what_changed(before, ds, seconds, layouts) or summary(ds, seconds))


def _parse_columns(values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for v in values:
        col, sep, typ = v.partition("=")
        if not sep or not col or not typ:
            raise click.BadParameter(f"expected NAME=TYPE, got {v!r}", param_hint="--column")
        out[col] = typ
    return out


@cli.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--name", help="Dataset name (default: the folder's name).")
@click.option("--type", "data_type", type=click.Choice(["image", "text", "other"]), help="Data type [default: other].")
@click.option("--metric", type=click.Choice(["l2", "euclidean", "cosine"]), help="Distance [default: l2].")
@click.option("--column", "columns", multiple=True, metavar="NAME=TYPE",
              help="A column's type (categorical, numeric, text, date, geographic, color); repeatable.")
@click.option("--config", type=click.Path(dir_okay=False, path_type=Path),
              help='LSC\'s config_<name>.py or .json, or JSON {"type": ..., "metric": ..., "columns": {...}} '
                   "[default: found beside the data]; flags win.")
@click.option("--force", is_flag=True, help="Replace an existing dataset of that name.")
@click.pass_obj
def add(obj: dict, path: Path, name, data_type, metric, columns, config, force) -> None:
    """Import a Latent Space Cartography data folder or a PixPlot output folder."""
    from .ingest.common import summary
    from .ingest.lsc import import_folder, load_config
    from .ingest.pixplot import import_pixplot, is_pixplot
    from .mapview import prepare

    start = time.perf_counter()
    if is_pixplot(path):
        if data_type or metric or columns or config:
            raise click.UsageError("--type, --metric, --column and --config apply to LSC folders, not PixPlot output")
        ds = import_pixplot(obj["data_dir"], path, name=name, force=force)
        prepare(ds, progress=True)  # the first visit draws at once
        click.echo(summary(ds, time.perf_counter() - start))
        return
    if path.is_dir() and not (path / "latent").is_dir() and not (path / "meta.csv").is_file():
        raise DashboardError(
            f"{path} is neither an LSC folder (latent/, meta.csv) nor PixPlot output (data/manifest.json); "
            f"to map a folder of images: python -m dashboard build images NAME --images {path}")
    cfg = load_config(config, type=data_type, metric=metric, columns=_parse_columns(columns))
    ds = import_folder(obj["data_dir"], path, name=name, config=cfg, force=force)
    prepare(ds)
    click.echo(summary(ds, time.perf_counter() - start))


@cli.command("list")
@click.pass_obj
def list_cmd(obj: dict) -> None:
    """Datasets in the data directory, with counts, latent spaces and state."""
    from .store import list_datasets

    found = list_datasets(obj["data_dir"])
    if not found:
        click.echo(f"no datasets in {obj['data_dir']} (try: python -m dashboard build digits)")
        return
    width = max(len(d.name) for d in found)
    for d in found:
        spaces = ", ".join(d.spaces)
        click.echo(f"{d.name:<{width}}  {d.type:<5}  {d.n:>8,} items  spaces: {spaces}  [{d.state}]")


@cli.command()
@click.argument("name")
@click.pass_obj
def info(obj: dict, name: str) -> None:
    """Latent spaces, row count, schema, cached layouts and the build report of a dataset."""
    from .buildreport import note_lines, skip_lines
    from .computed import cached_layouts
    from .store import open_dataset

    d = open_dataset(obj["data_dir"], name)
    report = d.report
    click.echo(f"{d.name}: {d.n:,} items, type {d.type}, metric {d.metric}, state {d.state}")
    click.echo(f"folder: {d.location}")
    if d.provenance:
        click.echo("source: " + str(d.provenance.get("source", "")))
    click.echo("latent spaces:" + ("" if d.spaces else " none"))
    for s in d.spaces.values():
        default = "  (default)" if s.id == d.default_space else ""
        decoder = "  decoder" if s.decoder else ""
        click.echo(f"  {s.label}{decoder}{default}  {s.description}")
    click.echo("columns:")
    built = d.manifest.get("schema_built") or {}
    for col, typ in d.schema.items():
        changed = f"  (set-type; built as {built[col]})" if col in d.column_types else ""
        click.echo(f"  {col}: {typ}{changed}")
    cached = cached_layouts(d)
    click.echo("cached layouts:" + ("" if cached else " none"))
    for c in cached:
        click.echo(f"  {c}")
    skipped = report.get("skipped", [])
    click.echo(f"build report: {len(skipped)} skipped input(s)")
    reasons = skip_lines(skipped)  # repeated reasons and notes: one line each, with a count and an example
    for line in reasons[:20]:
        click.echo(f"  {line}")
    if len(reasons) > 20:
        click.echo(f"  … and {len(reasons) - 20} more reasons in {d.path / 'report.json'}")
    for line in note_lines(report.get("notes", [])):
        click.echo(f"  note: {line}")


@cli.command("set-type")
@click.argument("name")
@click.argument("column")
@click.argument("type_", metavar="TYPE", type=click.Choice([*CHOOSABLE_TYPES, "built"]))
@click.pass_obj
def set_type(obj: dict, name: str, column: str, type_: str) -> None:
    """Give a column another type ('built': the one its build gave it), as the page's About panel does.

    A year read as a category becomes numeric: a colour bar, a range filter and a histogram. The values stay
    as imported and must read as the type; the choice outlives rebuilds while they still do."""
    from .store import set_column_type

    d = set_column_type(obj["data_dir"], name, column, None if type_ == "built" else type_)
    click.echo(f"{d.name}: column {column!r} is {d.schema[column]}")


@cli.command("export-layout")
@click.argument("name")
@click.option("--dim", "space", help="Latent space (its dimension, e.g. 32, or its id, e.g. pca50) [default: the dataset's default].")
@click.option("--projection", default="umap", show_default=True, callback=_projection_option,
              help=f"A registered projection: {', '.join(PROJECTIONS)}.")
@click.option("--perplexity", type=float, help="t-SNE perplexity [default: the dataset's, else 30].")
@click.option("--n-neighbors", type=int, help="UMAP n_neighbors [default: the dataset's, else 15].")
@click.option("--min-dist", type=float, help="UMAP min_dist [default: the dataset's (an image build's: 0.01), else 0.1].")
@click.option("--metric", type=click.Choice(["euclidean", "cosine"]), help="Distance [default: the dataset's].")
@click.option("--label", help="UMAP: categorical column for a supervised layout.")
@click.option("--param", "extra", multiple=True, metavar="NAME=VALUE", callback=_param_option,
              help="Any other parameter of the projection; repeatable.")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False, path_type=Path), help="CSV file to write.")
@click.pass_obj
def export_layout(obj: dict, name, space, projection, perplexity, n_neighbors, min_dist, metric, label, extra, output) -> None:
    """Write a layout as CSV: i, name, x, y and the metadata columns."""
    from .computed import get_layout
    from .export import layout_table, write_csv
    from .store import open_dataset

    d = open_dataset(obj["data_dir"], name)
    space = space or d.default_space
    params = {"perplexity": perplexity, "n_neighbors": n_neighbors, "min_dist": min_dist, "metric": metric, "label": label}
    params = {**extra, **{k: v for k, v in params.items() if v is not None}}
    start = time.perf_counter()
    lay = get_layout(d, space, projection, **params)
    write_csv(layout_table(d, lay.xy), output)
    click.echo(
        f"wrote {output} ({d.n:,} rows; {projection} of {space}, {lay.source}, {time.perf_counter() - start:.2f} s)"
    )


@cli.command("export-network")
@click.option("--dataset", "name", required=True, help="Dataset to export.")
@click.option("--dim", "space", help="Latent space [default: the dataset's default].")
@click.option("--space", "on", type=click.Choice(["latent", "layout"]), default="latent", show_default=True,
              help="Find neighbours in the latent space (what the items are) or on the 2-D layout.")
@click.option("--projection", default="umap", show_default=True, callback=_projection_option,
              help=f"Layout giving the node positions (and the neighbours with --space layout): {', '.join(PROJECTIONS)}.")
@click.option("--n-neighbors", type=click.IntRange(1, 200), default=10, show_default=True)
@click.option("--mutual", is_flag=True, help="Keep only edges whose reverse is also a nearest-neighbour edge.")
@click.option("--output", "-o", default="network.csv", show_default=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Edges file; CSV also writes <stem>_nodes.csv beside it.")
@click.option("--format", "fmt", type=click.Choice(["csv", "gexf", "graphml"]),
              help="Output format [default: from the output's suffix, else csv].")
@click.option("--include-thumbs", is_flag=True, help="Add each node's thumbnail path.")
@click.option("--include-metadata", is_flag=True, help="Add the metadata columns to nodes (and the source's to edges).")
@click.option("--plain-columns", is_flag=True, help="CSV: lower-case id/label/source/target/weight instead of Gephi's Id/Label/Source/Target/Weight.")
@click.option("--communities", is_flag=True,
              help="Add Louvain community, degree and eigenvector centrality to the nodes, colour them by community, "
                   "and cache them for the map's colour-by and size-by.")
@click.pass_obj
def export_network(obj: dict, name, space, on, projection, n_neighbors, mutual, output, fmt, include_thumbs,
                   include_metadata, plain_columns, communities) -> None:
    """Write the nearest-neighbour network for Gephi (CSV, GEXF or GraphML)."""
    from .network import FORMATS, build_network, write_network
    from .store import open_dataset

    d = open_dataset(obj["data_dir"], name)
    suffix = output.suffix.lstrip(".").lower()
    fmt = fmt or (suffix if suffix in FORMATS else "csv")
    start = time.perf_counter()
    net = build_network(d, space, on=on, projection=projection, n_neighbors=n_neighbors, mutual=mutual,
                        include_metadata=include_metadata, include_thumbs=include_thumbs, communities=communities)
    written = write_network(net, output, fmt, plain_columns=plain_columns)
    click.echo(
        f"wrote {', '.join(map(str, written))} ({len(net.nodes):,} nodes, {len(net.edges):,} edges; "
        f"{time.perf_counter() - start:.1f} s)"
    )


@cli.command()
@click.argument("name")
@click.option("--dim", "space", help="Latent space [default: the dataset's default].")
@click.option("--projection", default="umap", show_default=True, callback=_projection_option,
              help=f"The layout to judge, a registered projection: {', '.join(PROJECTIONS)}.")
@click.option("--perplexity", type=float, help="t-SNE perplexity [default: 30].")
@click.option("--n-neighbors", type=int, help="UMAP n_neighbors [default: 15].")
@click.option("--min-dist", type=float, help="UMAP min_dist [default: 0.1].")
@click.option("--label", help="UMAP: categorical column for a supervised layout.")
@click.option("--param", "extra", multiple=True, metavar="NAME=VALUE", callback=_param_option,
              help="Any other parameter of the projection; repeatable.")
@click.option("--k", type=click.IntRange(1, 200), default=10, show_default=True, help="Neighbours compared per item.")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="CSV file to write: i, name, trust.")
@click.pass_obj
def quality(obj: dict, name, space, projection, perplexity, n_neighbors, min_dist, label, extra, k, output) -> None:
    """How far to trust a layout: each item's share of its k latent neighbours that stay its neighbours on the
    layout (CSV), and the layout's trustworthiness and continuity (printed)."""
    from .computed import get_layout, get_layout_quality, get_trust
    from .export import item_table, write_csv
    from .store import open_dataset

    d = open_dataset(obj["data_dir"], name)
    space = space or d.default_space
    params = {"perplexity": perplexity, "n_neighbors": n_neighbors, "min_dist": min_dist, "label": label}
    params = {**extra, **{key: v for key, v in params.items() if v is not None}}
    start = time.perf_counter()
    xy = get_layout(d, space, projection, **params).xy
    trust = get_trust(d, space, xy, k)
    write_csv(item_table(d, trust=trust), output)
    q = get_layout_quality(d, space, xy, k, cached_only=False)
    how = f"estimated on {q['sampled']:,} random items" if q["sampled"] else "exact"
    click.echo(f"wrote {output} ({d.n:,} rows; mean trust {trust.mean():.3f}; {projection} of {space}, k = {k})")
    click.echo(f"trustworthiness {q['trustworthiness']:.4f}  continuity {q['continuity']:.4f}  ({how}; "
               f"{time.perf_counter() - start:.1f} s)")


@cli.command()
@click.argument("name")
@click.option("--dims", required=True, help="Two latent spaces, comma-separated, e.g. 8,64.")
@click.option("--k", type=click.IntRange(1, 200), default=10, show_default=True, help="Neighbours compared per item.")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="CSV file to write: i, name, jaccard.")
@click.pass_obj
def compare(obj: dict, name, dims, k, output) -> None:
    """How neighbourhoods change between two latent spaces: each item's Jaccard overlap of its k nearest
    neighbours in both (1: the same neighbours; 0: none kept)."""
    from .computed import get_neighbor_change
    from .export import item_table, write_csv
    from .store import open_dataset

    spaces = _csv_list(dims) or ()
    if len(spaces) != 2:
        raise click.BadParameter(f"expected two latent spaces such as 8,64, got {dims!r}", param_hint="--dims")
    d = open_dataset(obj["data_dir"], name)
    start = time.perf_counter()
    jac = get_neighbor_change(d, spaces[0], spaces[1], k)
    write_csv(item_table(d, jaccard=jac), output)
    click.echo(f"wrote {output} ({d.n:,} rows; spaces {spaces[0]} and {spaces[1]}, k = {k}; "
               f"{time.perf_counter() - start:.1f} s)")
    click.echo(f"mean Jaccard {jac.mean():.3f}; {int((jac == 0).sum()):,} items keep none of their neighbours, "
               f"{int((jac == 1).sum()):,} keep all")


def main() -> None:
    """Entry point of ``python -m dashboard`` and the ``dashboard`` script."""
    cli(prog_name="python -m dashboard")
