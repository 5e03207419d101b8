"""Settings for Campus Automation: one module, driven by environment variables.

With nothing set, everything runs embedded (SQLite file, a disk cache shared by
every process, a filesystem Celery broker) so web, workers and beat start on a
bare machine. `DATABASE_URL`, `REDIS_URL` and `CELERY_BROKER_URL` switch to real
services. Importing settings creates no folder: `python -m config.prepare`
(run by `make run`) does that before any process starts.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import overload

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def load_dotenv(path: Path) -> None:
    """KEY=VALUE lines from a local `.env`; variables already set win."""
    if not path.is_file():
        return
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            os.environ.setdefault(key.strip(), value.strip().strip("'\""))


load_dotenv(BASE_DIR / ".env")


# With a string default the setting is a string (django-stubs reads these types for `settings.X`).
@overload
def env(name: str, default: str) -> str: ...
@overload
def env(name: str, default: None = None) -> str | None: ...
def env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return default if value in (None, "") else value


def env_bool(name: str, default: bool = False) -> bool:
    value = env(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = env(name)
    return default if value is None else int(value)


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in (env(name, default) or "").split(",") if item.strip()]


DEBUG = env_bool("DEBUG", default=False)
VAR_DIR = Path(env("VAR_DIR", str(BASE_DIR / "var")))

# --- Secrets and hosts: production refuses to start without real values -----
_DEV_SECRET = "dev-only-insecure-secret-key-do-not-use-in-production-0123456789"  # noqa: S105
SECRET_KEY = env("SECRET_KEY") or (_DEV_SECRET if DEBUG else None)
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
if not DEBUG and (SECRET_KEY == _DEV_SECRET or len(SECRET_KEY) < 50):
    raise ImproperlyConfigured("SECRET_KEY must be a real secret of at least 50 characters in production.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver" if DEBUG else "")
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DEBUG is off.")

# JWT signing key: in production it is required and must differ from SECRET_KEY.
JWT_SIGNING_KEY = env("JWT_SIGNING_KEY") or (SECRET_KEY + "-jwt" if DEBUG else None)
if not JWT_SIGNING_KEY:
    raise ImproperlyConfigured("JWT_SIGNING_KEY must be set when DEBUG is off.")
if JWT_SIGNING_KEY == SECRET_KEY:
    raise ImproperlyConfigured("JWT_SIGNING_KEY must differ from SECRET_KEY.")

# Key for biometric data at rest (Fernet, urlsafe base64 of 32 bytes). Kept out
# of the database on purpose, so a dump shows no plaintext embeddings.
FACE_ENCRYPTION_KEY = env("FACE_ENCRYPTION_KEY") or (
    "ZGV2LW9ubHktZmFjZS1rZXktMzItYnl0ZXMtbG9uZyE=" if DEBUG else None
)
if not FACE_ENCRYPTION_KEY:
    raise ImproperlyConfigured("FACE_ENCRYPTION_KEY must be set when DEBUG is off.")

# --- Applications ----------------------------------------------------------
INSTALLED_APPS = [
    "django_prometheus",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "config",
    "accounts",
    "campus",
    "attendance",
    "cameras",
    "devices",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "config.middleware.RequestContextMiddleware",
    "config.middleware.ApiErrorFormatMiddleware",
    "config.middleware.BodySizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"
AUTH_USER_MODEL = "accounts.User"
ADMIN_URL = (env("ADMIN_URL", "admin/") or "admin/").strip("/") + "/"
# Shown in the admin's title bar and on the error pages.
CAMPUS_NAME = env("CAMPUS_NAME", "Campus Automation") or "Campus Automation"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "config.context_processors.campus",
            ],
        },
    },
]

# --- Database --------------------------------------------------------------
DATABASE_URL = env("DATABASE_URL")
if DATABASE_URL:
    _db = dj_database_url.parse(DATABASE_URL, conn_max_age=0, conn_health_checks=True)
    if _db["ENGINE"] == "django.db.backends.postgresql":
        _db["OPTIONS"] = {"connect_timeout": env_int("DB_CONNECT_TIMEOUT", 5)}
        if env_bool("DB_PREPARED_STATEMENTS", default=True):
            # Parameters bound by the server, and a query run 5 times on a connection
            # prepared there: PostgreSQL then skips parsing and planning it. The one
            # query every authenticated request runs (its user and permissions) took
            # 0.8 ms planned each time and 0.2 ms prepared. Turn off behind a PgBouncer
            # older than 1.21 in transaction mode, which cannot keep prepared statements.
            _db["OPTIONS"] |= {"server_side_binding": True, "prepare_threshold": 5}
        if env_bool("DB_POOL", default=True):
            # psycopg 3 pool. CONN_HEALTH_CHECKS makes Django pass the pool's
            # `check`, which pings a connection before handing it out, so a
            # PostgreSQL restart needs no restart of web or workers.
            _db["OPTIONS"]["pool"] = {
                "min_size": env_int("DB_POOL_MIN", 1),
                "max_size": env_int("DB_POOL_MAX", 10),
                # The longest a request waits for a connection before its 503: a
                # worker thread held 10 s per request during an outage starved the rest.
                "timeout": env_int("DB_POOL_TIMEOUT", 2),
            }
        else:
            _db["CONN_MAX_AGE"] = env_int("DB_CONN_MAX_AGE", 60)
    if env("TEST_DATABASE_NAME"):
        _db["TEST"] = {"NAME": env("TEST_DATABASE_NAME")}
    DATABASES = {"default": _db}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(VAR_DIR / "campus.sqlite3"),
            # WAL and immediate transactions let web, worker and beat share the file.
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache -----------------------------------------------------------------
REDIS_URL = env("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env("CACHE_KEY_PREFIX", "campus"),
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                "SOCKET_CONNECT_TIMEOUT": 1,
                "SOCKET_TIMEOUT": 1,
            },
        }
    }
else:
    # Embedded: one cache on disk for every process (web workers, Celery children,
    # beat, readers), so rate limits, the gallery version, the motion gate and the
    # dashboard cache hold across processes as they do on Redis. diskcache's
    # increments are atomic across processes (SQLite transactions); Django's
    # DatabaseCache and FileBasedCache are not, and django-ratelimit refuses them.
    CACHES = {
        "default": {
            "BACKEND": "diskcache.DjangoCache",
            "LOCATION": str(VAR_DIR / "cache"),
            "KEY_PREFIX": env("CACHE_KEY_PREFIX", "campus"),
            # Seconds one SQLite transaction may wait for a lock before diskcache retries it.
            "DATABASE_TIMEOUT": 1.0,
            "OPTIONS": {"size_limit": 256 * 1024 * 1024},
        }
    }
    # django-ratelimit lists only Redis and memcached as officially supported.
    SILENCED_SYSTEM_CHECKS = ["django_ratelimit.W001"]

# --- Celery ----------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL") or REDIS_URL or "filesystem://"
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    # Both folders must exist before a worker starts (`python -m config.prepare`).
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "out"),
        "data_folder_out": str(_broker_dir / "out"),
        "processed_folder": str(_broker_dir / "processed"),
        # Exchange bindings; kombu's default is "control" in the current folder.
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # Longer than the longest task time limit and any ETA we schedule, so a
    # slow task is never handed to a second worker while the first still runs.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 7200)}
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 1800)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 1500)

# --- Auth ------------------------------------------------------------------
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "accounts.validators.PasswordCompositionValidator"},
]
LOGIN_URL = f"/{ADMIN_URL}login/"
# Open sign-up tells a caller whether a username or email is taken (409): off in
# production unless chosen, and then limited per address (ACCOUNTS_REGISTER_RATE_PER_IP).
ALLOW_SELF_REGISTRATION = env_bool("ALLOW_SELF_REGISTRATION", default=DEBUG)
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)

# --- REST framework --------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.UserJWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["config.renderers.FastJSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["config.parsers.CampusJSONParser"],
    "DEFAULT_PAGINATION_CLASS": "config.pagination.StandardPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "config.filters.FilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int("JWT_ACCESS_MINUTES", 5)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env_int("JWT_REFRESH_DAYS", 7)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "ALGORITHM": "HS256",
    "SIGNING_KEY": JWT_SIGNING_KEY,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    "LEEWAY": 0,
}
# How long web processes trust a cached "session still live" before asking the
# database again (an ended session is announced in Redis at once; this bounds a lost announcement).
SESSION_STATE_LIVE_SECONDS = env_int("SESSION_STATE_LIVE_SECONDS", 30)
# A chain of rotated refresh tokens cannot outlive this, so a session ends.
JWT_REFRESH_ABSOLUTE_DAYS = env_int("JWT_REFRESH_ABSOLUTE_DAYS", 30)

SPECTACULAR_SETTINGS = {
    "TITLE": "Campus Automation API",
    "DESCRIPTION": "Attendance by face recognition, and the campus around it.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "config.schema.document_errors"],
    # Several models have a `status`/`state`/`source`; name each enumeration after its meaning.
    "ENUM_NAME_OVERRIDES": {
        "SessionStatusEnum": "attendance.choices.SessionStatus",
        "RecordStatusEnum": "attendance.choices.RecordStatus",
        "RecordSourceEnum": "attendance.choices.RecordSource",
        "ExcuseStatusEnum": "attendance.choices.ExcuseStatus",
        "MarkableStatusEnum": ["present", "late", "absent", "excused"],
        "CameraStatusEnum": "cameras.choices.CameraStatus",
        "FrameStateEnum": "cameras.choices.FrameState",
        "FrameSourceEnum": "cameras.choices.FrameSource",
        "UnknownFaceStatusEnum": "cameras.choices.UnknownFaceStatus",
        "StudentStatusEnum": "campus.choices.StudentStatus",
        "ComplaintStatusEnum": "campus.choices.ComplaintStatus",
        "DeviceStateEnum": "devices.choices.DeviceState",
        "DeploymentStateEnum": "devices.choices.DeploymentState",
        "TargetStateEnum": "devices.choices.TargetState",
    },
}

# --- Requests, security, CORS ---------------------------------------------
# Bodies larger than this get 413 before a view reads them; some endpoints
# (frame push, bundle upload) have their own limits by path prefix.
MAX_REQUEST_BODY_BYTES = env_int("MAX_REQUEST_BODY_BYTES", 2 * 1024 * 1024)
REQUEST_BODY_LIMITS: dict[str, int] = {
    "/api/v1/cameras/": env_int("MAX_FRAME_BYTES", 8 * 1024 * 1024),
    "/api/v1/students/": env_int("MAX_ENROLMENT_PHOTO_BYTES", 8 * 1024 * 1024),
    "/api/v1/devices/bundles": env_int("MAX_BUNDLE_BYTES", 200 * 1024 * 1024),
    f"/{ADMIN_URL}": env_int("MAX_ADMIN_UPLOAD_BYTES", 200 * 1024 * 1024),
}
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BODY_BYTES
# A body a view refused without reading (403, 413) is read and dropped up to this
# size, so the client's connection stays usable; beyond it gunicorn closes it.
REQUEST_DRAIN_MAX_BYTES = env_int("REQUEST_DRAIN_MAX_BYTES", 16 * 1024 * 1024)
# JSON nested deeper than this is a 400 before parsing (Python's parser recurses per level).
JSON_MAX_DEPTH = env_int("JSON_MAX_DEPTH", 64)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS")
CORS_URLS_REGEX = r"^/api/.*$"

SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
    if TRUSTED_PROXY_COUNT > 0:
        # Only a proxy we stand behind sets the scheme; without one a client could claim https.
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_REDIRECT_EXEMPT = [r"^health/", r"^metrics$"]
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# --- Metrics ---------------------------------------------------------------
METRICS_TOKEN = env("METRICS_TOKEN")
METRICS_ALLOWED_IPS = env_list("METRICS_ALLOWED_IPS", "127.0.0.1,::1" if DEBUG else "")
PROMETHEUS_EXPORT_MIGRATIONS = False
# The Celery worker serves its processes' metrics here when PROMETHEUS_MULTIPROC_DIR
# is set in its environment (see config/worker_metrics.py); 0 = off.
CELERY_METRICS_PORT = env_int("CELERY_METRICS_PORT", 0)
CELERY_METRICS_ADDR = env("CELERY_METRICS_ADDR", "127.0.0.1")

# --- Static and media ------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env("MEDIA_ROOT", str(VAR_DIR / "media")))
# Files the apps keep (frame bytes, unknown-face crops, enrolment photos, device bundles)
# go through Django's storage API to a place web and every worker reach; they share no
# disk (README "Files: where frames, crops and photos live"). "database" (the default):
# rows in the database (config/storage.py), backed up by pg_dump; "s3": an S3-compatible
# object store (MinIO, Ceph, AWS) through django-storages; "filesystem": MEDIA_ROOT, only
# for a single machine or a disk every process mounts.
STORAGE_BACKEND = env("STORAGE_BACKEND", "database")
if STORAGE_BACKEND == "database":
    _default_storage: dict = {"BACKEND": "config.storage.DatabaseStorage"}
elif STORAGE_BACKEND == "filesystem":
    _default_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
elif STORAGE_BACKEND == "s3":
    if not env("AWS_STORAGE_BUCKET_NAME"):
        raise ImproperlyConfigured("STORAGE_BACKEND=s3 needs AWS_STORAGE_BUCKET_NAME (MinIO: AWS_S3_ENDPOINT_URL too).")
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env("AWS_STORAGE_BUCKET_NAME"),
            # MinIO or another S3-compatible server; unset for AWS itself.
            "endpoint_url": env("AWS_S3_ENDPOINT_URL"),
            "region_name": env("AWS_S3_REGION_NAME"),
            # Unset: boto3's own chain (instance role, ~/.aws, AWS_* variables).
            "access_key": env("AWS_ACCESS_KEY_ID"),
            "secret_key": env("AWS_SECRET_ACCESS_KEY"),
            # Faces and frames are private: no ACL, no public URLs, never a silent overwrite.
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": False,
            "addressing_style": env("AWS_S3_ADDRESSING_STYLE", "path"),
        },
    }
else:
    raise ImproperlyConfigured(f"STORAGE_BACKEND must be database, s3 or filesystem, not {STORAGE_BACKEND!r}.")
STORAGES = {
    "default": _default_storage,
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Email -----------------------------------------------------------------
EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
# The console backend prints password-reset links (live tokens) into the server log.
if not DEBUG and env("EMAIL_BACKEND") is None:
    raise ImproperlyConfigured(
        "EMAIL_BACKEND must be set when DEBUG is off (the console backend writes reset links to the log;"
        " set it to django.core.mail.backends.console.EmailBackend to choose that anyway)."
    )
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "campus@localhost")
FRONTEND_URL = env("FRONTEND_URL", "http://127.0.0.1:8000")

# --- Time ------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Logging ---------------------------------------------------------------
LOG_FORMAT = env("LOG_FORMAT", "json" if not DEBUG else "text")
LOG_LEVEL = (env("LOG_LEVEL", "INFO") or "INFO").upper()
SLOW_REQUEST_MS = env_int("SLOW_REQUEST_MS", 1000)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_context": {"()": "config.logging.RequestContextFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
        "text": {
            "()": "config.logging.TextFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT if LOG_FORMAT in {"json", "text"} else "json",
            "filters": ["request_context"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.request": {"level": "ERROR"},
        "django.server": {"level": "WARNING"},
        "celery": {"level": LOG_LEVEL},
    },
}

# --- App settings: each app keeps its own block below ----------------------
# accounts
# Rate limits (django-ratelimit syntax), counted on the shared cache.
ACCOUNTS_LOGIN_RATE_PER_IP = env("ACCOUNTS_LOGIN_RATE_PER_IP", "5/m")
ACCOUNTS_LOGIN_RATE_PER_USERNAME = env("ACCOUNTS_LOGIN_RATE_PER_USERNAME", "5/m")
ACCOUNTS_RESET_RATE_PER_IP = env("ACCOUNTS_RESET_RATE_PER_IP", "3/h")
ACCOUNTS_RESET_RATE_PER_EMAIL = env("ACCOUNTS_RESET_RATE_PER_EMAIL", "3/h")
ACCOUNTS_ANONYMOUS_RATE = env("ACCOUNTS_ANONYMOUS_RATE", "60/m")
ACCOUNTS_REGISTER_RATE_PER_IP = env("ACCOUNTS_REGISTER_RATE_PER_IP", "10/h")
# A cache that gives no count is an outage to config.ratelimits, which applies each
# limit's written policy (sign-in fails closed with 503, telemetry fails open).
RATELIMIT_FAIL_OPEN = False
REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] = ["accounts.throttling.AnonymousRateThrottle"]
# The emailed reset link: {FRONTEND_URL}{ACCOUNTS_PASSWORD_RESET_PATH}?uid=...&token=...
ACCOUNTS_PASSWORD_RESET_PATH = env("ACCOUNTS_PASSWORD_RESET_PATH", "/reset-password")
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_TIMEOUT", 3600)
# HS256 wants a key of at least 256 bits; a short production key is refused.
if not DEBUG and len(JWT_SIGNING_KEY) < 32:
    raise ImproperlyConfigured("JWT_SIGNING_KEY must be at least 32 characters in production.")
# /accounts
# campus
# A CSV import larger than this is refused (split the file); the whole file is held in memory.
CAMPUS_IMPORT_MAX_ROWS = env_int("CAMPUS_IMPORT_MAX_ROWS", 50_000)
# /campus
# attendance
# Campus default policy, used until an admin saves an AttendancePolicy without a course.
ATTENDANCE_LATE_AFTER_MINUTES = env_int("ATTENDANCE_LATE_AFTER_MINUTES", 10)
ATTENDANCE_EARLY_ARRIVAL_MINUTES = env_int("ATTENDANCE_EARLY_ARRIVAL_MINUTES", 15)
ATTENDANCE_EARLY_LEAVE_MINUTES = env_int("ATTENDANCE_EARLY_LEAVE_MINUTES", 15)
ATTENDANCE_ABSENT_IF_NOT_SEEN = env_bool("ATTENDANCE_ABSENT_IF_NOT_SEEN", default=True)
# Below this fraction of healthy camera time, students not seen are "unverified", not absent.
ATTENDANCE_MIN_CAMERA_COVERAGE = float(env("ATTENDANCE_MIN_CAMERA_COVERAGE", "0.5") or "0.5")
# Closed sessions older than this many days can be changed by admins only.
ATTENDANCE_EDIT_WINDOW_DAYS = env_int("ATTENDANCE_EDIT_WINDOW_DAYS", 14)
# How many missed days the session planner makes up after downtime.
ATTENDANCE_CATCH_UP_DAYS = env_int("ATTENDANCE_CATCH_UP_DAYS", 7)
ATTENDANCE_DASHBOARD_CACHE_SECONDS = env_int("ATTENDANCE_DASHBOARD_CACHE_SECONDS", 30)
# Section reports are cached under the section's data version (moved by every attendance
# service); this bounds what no service announces (a student renamed). 0: no cache.
ATTENDANCE_REPORT_CACHE_SECONDS = env_int("ATTENDANCE_REPORT_CACHE_SECONDS", 300)
ATTENDANCE_LOW_RATE_THRESHOLD = float(env("ATTENDANCE_LOW_RATE_THRESHOLD", "0.75") or "0.75")
ATTENDANCE_MAX_REPORT_DAYS = env_int("ATTENDANCE_MAX_REPORT_DAYS", 400)
# /attendance
# face_engine
# The engine (dotted path to a class with the FaceEngine interface) and its tuning.
# Default: dlib's networks run by onnxruntime (same vectors, ~10x faster); the
# reference and fallback is "cameras.engine.dlib_engine.DlibFaceEngine".
FACE_ENGINE = env("FACE_ENGINE", "cameras.engine.onnx_engine.OnnxFaceEngine")
# Threads one process's engine may use (OpenCV, onnxruntime, BLAS): one frame, one core.
FACE_ENGINE_THREADS = env_int("FACE_ENGINE_THREADS", 1)
# Matching (Euclidean distance between dlib descriptors); figures and reasoning in
# README "Face engine". A match needs distance <= threshold AND the next student
# at least MARGIN farther; STRONG is "far inside the threshold" (one sighting is enough).
FACE_MATCH_THRESHOLD = float(env("FACE_MATCH_THRESHOLD", "0.45") or 0.45)
FACE_MATCH_MARGIN = float(env("FACE_MATCH_MARGIN", "0.08") or 0.08)
# Each process rebuilds its gallery at least this often, even if a change notice was lost.
FACE_GALLERY_MAX_AGE_SECONDS = env_int("FACE_GALLERY_MAX_AGE_SECONDS", 300)
FACE_STRONG_MATCH_DISTANCE = float(env("FACE_STRONG_MATCH_DISTANCE", "0.35") or 0.35)
# Enrolment: a new photo must be within this distance of every enrolment the student has
# (same person, different shots: up to 0.48 measured; different people: from 0.59).
FACE_ENROLMENT_SAME_PERSON_DISTANCE = float(env("FACE_ENROLMENT_SAME_PERSON_DISTANCE", "0.55") or 0.55)
# Quality: minimum face size (px across, full-resolution image) and sharpness
# (variance of the Laplacian of the face resized to 128x128).
FACE_MIN_SIZE_PX = env_int("FACE_MIN_SIZE_PX", 64)
# Sharp portraits measure 185-650; a Gaussian blur of 1% of the face width brings them to 21-46.
FACE_MIN_SHARPNESS = float(env("FACE_MIN_SHARPNESS", "60") or 60)
# Images: refuse claimed dimensions above this many pixels before decoding.
FACE_MAX_IMAGE_PIXELS = env_int("FACE_MAX_IMAGE_PIXELS", 40_000_000)
# Detection runs on a copy whose longer side is at most this (0 = full size).
FACE_DETECT_MAX_SIDE = env_int("FACE_DETECT_MAX_SIDE", 960)
FACE_DETECT_UPSAMPLE = env_int("FACE_DETECT_UPSAMPLE", 0)
# Motion gate: a frame whose 96-px thumbnail changed (beyond noise) on less than this
# fraction is skipped. 0.001 lets through a 30-px face appearing in a 1080p frame;
# sensor noise (sigma 12) and JPEG quality 40 measure 0.
FACE_MOTION_MIN_CHANGE = float(env("FACE_MOTION_MIN_CHANGE", "0.001") or 0.001)
# Tracking: a recognised face seen again at about the same place is not re-embedded.
FACE_TRACK_MIN_IOU = float(env("FACE_TRACK_MIN_IOU", "0.5") or 0.5)
FACE_TRACK_MAX_GAP_SECONDS = float(env("FACE_TRACK_MAX_GAP_SECONDS", "3") or 3)
FACE_TRACK_REVERIFY_SECONDS = float(env("FACE_TRACK_REVERIFY_SECONDS", "15") or 15)
# /face_engine
# cameras
# Frames: bytes kept after processing only if set; rows (metadata) kept this many days.
FRAME_KEEP_IMAGES = env_bool("FRAME_KEEP_IMAGES", default=False)
FRAME_ROW_RETENTION_DAYS = env_int("FRAME_ROW_RETENTION_DAYS", 14)
# Sightings are the evidence behind attendance records: kept for an academic year.
SIGHTING_RETENTION_DAYS = env_int("SIGHTING_RETENTION_DAYS", 365)
FRAME_PUSH_PER_MINUTE = env_int("FRAME_PUSH_PER_MINUTE", 120)
FRAME_MAX_ATTEMPTS = env_int("FRAME_MAX_ATTEMPTS", 4)
# A frame left `processing` this long by a dead worker may be claimed again.
FRAME_CLAIM_TIMEOUT_SECONDS = env_int("FRAME_CLAIM_TIMEOUT_SECONDS", 300)
# Motion gate (threshold FACE_MOTION_MIN_CHANGE above): the longest a static camera is ignored.
FRAME_MOTION_MAX_SKIP_SECONDS = env_int("FRAME_MOTION_MAX_SKIP_SECONDS", 30)
# Consensus: marked after this many agreeing sightings within the window, or one strong match.
FACE_CONSENSUS_SIGHTINGS = env_int("FACE_CONSENSUS_SIGHTINGS", 2)
FACE_CONSENSUS_WINDOW_SECONDS = env_int("FACE_CONSENSUS_WINDOW_SECONDS", 120)
# Seen in two rooms within this many seconds: flagged on both, marked in neither.
FACE_CONFLICT_WINDOW_SECONDS = env_int("FACE_CONFLICT_WINDOW_SECONDS", 300)
# A student already marked by this worker: the record's last-seen time is refreshed at most this often.
FACE_MARK_REFRESH_SECONDS = env_int("FACE_MARK_REFRESH_SECONDS", 60)
# Privacy: unknown-face crops and enrolment photos are deleted after these.
UNKNOWN_FACE_RETENTION_HOURS = env_int("UNKNOWN_FACE_RETENTION_HOURS", 72)
FACE_ENROLMENT_PHOTO_RETENTION_DAYS = env_int("FACE_ENROLMENT_PHOTO_RETENTION_DAYS", 0)
UNKNOWN_FACE_GROUP_DISTANCE = float(env("UNKNOWN_FACE_GROUP_DISTANCE", "0.5") or 0.5)
# Pulled cameras: offline after this many failed reads in a row, retried with backoff up to the cap.
CAMERA_OFFLINE_AFTER_FAILURES = env_int("CAMERA_OFFLINE_AFTER_FAILURES", 3)
CAMERA_MAX_BACKOFF_SECONDS = env_int("CAMERA_MAX_BACKOFF_SECONDS", 300)
CAMERA_CAPTURE_TIMEOUT_SECONDS = env_int("CAMERA_CAPTURE_TIMEOUT_SECONDS", 10)
# The beat period of cameras.tasks.poll_cameras: each run plans the captures until the next one.
CAMERA_POLL_PERIOD_SECONDS = env_int("CAMERA_POLL_PERIOD_SECONDS", 30)
CAMERA_MAX_CAPTURES_PER_POLL = env_int("CAMERA_MAX_CAPTURES_PER_POLL", 60)
# A pushing camera with no frame for this long is shown offline.
CAMERA_PUSH_STALE_SECONDS = env_int("CAMERA_PUSH_STALE_SECONDS", 120)
# Faces narrower than this (px, full frame) are counted but not matched: too few pixels to trust.
FACE_MATCH_MIN_SIZE_PX = env_int("FACE_MATCH_MIN_SIZE_PX", 32)
# /cameras
# devices
# Online means a heartbeat within this many seconds.
DEVICE_ONLINE_WINDOW_SECONDS = env_int("DEVICE_ONLINE_WINDOW_SECONDS", 90)
# Key for the HMAC of device credentials and registration tokens; without
# DEVICE_CREDENTIAL_KEY it derives from SECRET_KEY (changing either revokes all).
DEVICE_CREDENTIAL_KEY = env("DEVICE_CREDENTIAL_KEY") or (SECRET_KEY + "-device-credentials")
DEVICE_HEARTBEAT_MAX_PER_MINUTE = env_int("DEVICE_HEARTBEAT_MAX_PER_MINUTE", 12)
# Registrations are unauthenticated until the token is checked: a per-address cap.
DEVICE_REGISTRATIONS_PER_IP_PER_MINUTE = env_int("DEVICE_REGISTRATIONS_PER_IP_PER_MINUTE", 30)
DEVICE_HEARTBEAT_RETENTION_DAYS = env_int("DEVICE_HEARTBEAT_RETENTION_DAYS", 14)
DEVICE_MAX_BUNDLE_BYTES = env_int("MAX_BUNDLE_BYTES", 200 * 1024 * 1024)
# Global defaults of the config document served to every device; groups and
# devices override keys of it (see devices.services.device_config).
DEVICE_CONFIG_DEFAULTS = {
    "heartbeat_interval_seconds": env_int("DEVICE_HEARTBEAT_INTERVAL_SECONDS", 30),
    "config_poll_seconds": env_int("DEVICE_CONFIG_POLL_SECONDS", 300),
    "frame_interval_seconds": env_int("DEVICE_FRAME_INTERVAL_SECONDS", 2),
    "log_level": env("DEVICE_LOG_LEVEL", "info"),
}
# /devices
# operations
# Backups (`manage.py backup`, the nightly task): where, how many, how old is too old.
BACKUP_DIR = Path(env("BACKUP_DIR", str(VAR_DIR / "backups")))
BACKUP_KEEP_DAILY = env_int("BACKUP_KEEP_DAILY", 7)
BACKUP_KEEP_WEEKLY = env_int("BACKUP_KEEP_WEEKLY", 4)
BACKUP_INCLUDE_MEDIA = env_bool("BACKUP_INCLUDE_MEDIA", default=True)
# /health/full and `doctor` fail when the newest good backup is older than this.
BACKUP_MAX_AGE_HOURS = env_int("BACKUP_MAX_AGE_HOURS", 26)
# A site that has never made a backup is unhealthy in production; in development it is only noted.
BACKUP_REQUIRED = env_bool("BACKUP_REQUIRED", default=not DEBUG)
# Directory holding pg_dump/pg_restore when they are not on PATH (e.g. /usr/lib/postgresql/16/bin).
PG_BIN_DIR = env("PG_BIN_DIR", "")
# Retention of audit entries (the other apps keep their own retention settings).
AUDIT_RETENTION_DAYS = env_int("AUDIT_RETENTION_DAYS", 365)
# Queries slower than this are logged (JSON in production) by config.slow_queries.
SLOW_QUERY_MS = env_int("SLOW_QUERY_MS", 500)
# Celery: the longest countdown/ETA a task may be given. The Redis visibility
# timeout must exceed it plus the longest time limit (asserted by a test and `doctor`).
CELERY_MAX_ETA_SECONDS = env_int("CELERY_MAX_ETA_SECONDS", 3600)
# A late-acked task whose worker died is redelivered at most this many times in all.
CELERY_MAX_DELIVERIES = env_int("CELERY_MAX_DELIVERIES", 3)
# Exactly one beat: it holds this lock (Redis key, or a file lock without Redis).
BEAT_LOCK_KEY = env("BEAT_LOCK_KEY", "beat:lock")
BEAT_LOCK_TTL_SECONDS = env_int("BEAT_LOCK_TTL_SECONDS", 60)
BEAT_HEARTBEAT_STALE_SECONDS = env_int("BEAT_HEARTBEAT_STALE_SECONDS", 120)
# `manage.py doctor`.
DOCTOR_MIN_FREE_DISK_MB = env_int("DOCTOR_MIN_FREE_DISK_MB", 1024)
DOCTOR_WORKER_PING_TIMEOUT = float(env("DOCTOR_WORKER_PING_TIMEOUT", "1.0") or "1.0")
# /operations
