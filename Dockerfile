# syntax=docker/dockerfile:1
# Multi-stage: build wheels with compilers, run on a slim image as a non-root user.
# (Docker cannot run on our development machines; this file is kept correct by review.)

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /build
COPY requirements.txt .
RUN python -m venv /opt/venv && /opt/venv/bin/pip install -r requirements.txt

FROM python:3.11-slim-bookworm AS runtime
ENV PATH=/opt/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=config.settings VAR_DIR=/var/lib/campus
# ffmpeg for RTSP/MJPEG reading, the PostgreSQL client for backups, curl for health checks.
RUN apt-get update && apt-get install -y --no-install-recommends \
        ffmpeg postgresql-client libgl1 libglib2.0-0 curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home /app campus \
    && mkdir -p /var/lib/campus && chown campus /var/lib/campus
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --chown=campus . .
USER campus
# collectstatic needs settings that load; these throwaway values never serve a request.
RUN DEBUG=1 python manage.py collectstatic --noinput --verbosity 0
EXPOSE 8000
CMD ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--threads", "4", "--access-logfile", "-"]
