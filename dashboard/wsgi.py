"""WSGI entry: ``gunicorn -w 4 --threads 4 'dashboard.wsgi:server'`` (data from $DASHBOARD_DATA_DIR;
background jobs on Celery with ``DASHBOARD_JOBS=celery`` and ``DASHBOARD_BROKER=redis://…``)."""

import os
import sys

from . import jobs
from .app import create_app
from .errors import DashboardError

try:
    jobs.configure(os.environ.get("DASHBOARD_JOBS", "").strip().lower() or "local", os.environ.get("DASHBOARD_BROKER"))
except DashboardError as e:
    raise SystemExit(f"dashboard: {e}") from None  # one line in gunicorn's log, not a traceback

app = create_app(dataset=os.environ.get("DASHBOARD_DATASET"))
server = app.server

# As `python -m dashboard --dataset emoji` does: a built emoji dataset whose VAEs are missing trains them
# in a background job while the map serves PCA (one job, however many workers import this module).
if os.environ.get("DASHBOARD_DATASET"):
    try:
        jobs.train_missing(server.config["DATA_DIR"], os.environ["DASHBOARD_DATASET"])
    except DashboardError as e:
        print(f"dashboard: {e}", file=sys.stderr)  # the page says what is missing; the server still serves
