# One image for every part of the cluster in compose.yaml: the web server (gunicorn), the Celery worker,
# the Dask scheduler and workers, and one-shot builds. See docs/deploy.md.
FROM python:3.11-slim

# KERAS_HOME: ImageNet weights kept on the shared volume, downloaded once and read by every Dask worker
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DASHBOARD_DATA_DIR=/data \
    KERAS_HOME=/data/.keras

WORKDIR /app
COPY pyproject.toml README.md ./
COPY dashboard ./dashboard
COPY assets ./assets
# the engines of a team or cluster: Celery + Redis jobs, PostgreSQL groups, Dask feature extraction;
# gunicorn serves the app (dashboard.wsgi:server)
RUN pip install ".[celery,postgres,dask]" "gunicorn>=22" \
    && useradd --create-home --uid 1000 dashboard \
    && mkdir -p /data && chown dashboard:dashboard /data

USER dashboard
VOLUME ["/data"]
EXPOSE 8050
CMD ["gunicorn", "-w", "4", "--threads", "4", "-b", "0.0.0.0:8050", "dashboard.wsgi:server"]
