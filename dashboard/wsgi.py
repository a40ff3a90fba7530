"""WSGI entry: ``gunicorn -w 4 --threads 4 'dashboard.wsgi:server'`` (data from $DASHBOARD_DATA_DIR)."""

import os

from .app import create_app

app = create_app(dataset=os.environ.get("DASHBOARD_DATASET"))
server = app.server
