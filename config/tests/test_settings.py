"""Production settings refuse to start without real secrets."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]

PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": secrets.token_urlsafe(60),
    "JWT_SIGNING_KEY": secrets.token_urlsafe(60),
    "FACE_ENCRYPTION_KEY": "ZGV2LW9ubHktZmFjZS1rZXktMzItYnl0ZXMtbG9uZyE=",
    "ALLOWED_HOSTS": "campus.example.edu",
    "METRICS_TOKEN": "t",
    "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
}


def load_settings(**overrides):
    env = {k: v for k, v in os.environ.items() if k not in PRODUCTION}
    env.update(PRODUCTION, DJANGO_SETTINGS_MODULE="config.settings")
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60,
    )


def test_production_settings_load_with_real_secrets():
    result = load_settings()
    assert result.returncode == 0, result.stderr


def test_production_without_secret_key_refuses_to_load():
    result = load_settings(SECRET_KEY=None)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_with_a_short_secret_key_refuses_to_load():
    result = load_settings(SECRET_KEY="short")
    assert result.returncode != 0
    assert "SECRET_KEY must be a real secret" in result.stderr


def test_production_without_allowed_hosts_refuses_to_load():
    result = load_settings(ALLOWED_HOSTS=None)
    assert result.returncode != 0
    assert "ALLOWED_HOSTS must be set" in result.stderr


def test_production_jwt_key_must_differ_from_secret_key():
    result = load_settings(JWT_SIGNING_KEY=PRODUCTION["SECRET_KEY"])
    assert result.returncode != 0
    assert "JWT_SIGNING_KEY must differ" in result.stderr


def test_deploy_check_prints_no_warnings():
    env = {**{k: v for k, v in os.environ.items() if k not in PRODUCTION}, **PRODUCTION}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNINGS" not in result.stdout + result.stderr


PROBE_PROXY = (
    "import django; django.setup(); from django.conf import settings; "
    "print(getattr(settings, 'SECURE_PROXY_SSL_HEADER', None))"
)


def _probe(code, **overrides):
    env = {k: v for k, v in os.environ.items() if k not in PRODUCTION}
    env.update(PRODUCTION, DJANGO_SETTINGS_MODULE="config.settings", **overrides)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60
    )


def test_production_without_an_email_backend_refuses_to_load():
    # The console default would write password-reset links (live tokens) to the server log.
    result = load_settings(EMAIL_BACKEND=None)
    assert result.returncode != 0
    assert "EMAIL_BACKEND must be set" in result.stderr


def test_production_may_choose_the_console_backend_explicitly():
    assert load_settings(EMAIL_BACKEND="django.core.mail.backends.console.EmailBackend").returncode == 0


def test_forwarded_proto_is_ignored_without_a_trusted_proxy():
    result = _probe(PROBE_PROXY, TRUSTED_PROXY_COUNT="0")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "None"


def test_forwarded_proto_is_trusted_behind_a_proxy():
    result = _probe(PROBE_PROXY, TRUSTED_PROXY_COUNT="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "('HTTP_X_FORWARDED_PROTO', 'https')"


def test_self_registration_is_off_by_default_in_production():
    code = "import django; django.setup(); from django.conf import settings; print(settings.ALLOW_SELF_REGISTRATION)"
    result = _probe(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_gunicorn_trusts_forwarded_scheme_headers_only_behind_a_proxy(monkeypatch):
    import runpy

    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    monkeypatch.setenv("TRUSTED_PROXY_COUNT", "0")
    assert runpy.run_path(str(BASE_DIR / "gunicorn.conf.py"))["forwarded_allow_ips"] == ""
    monkeypatch.setenv("TRUSTED_PROXY_COUNT", "1")
    assert runpy.run_path(str(BASE_DIR / "gunicorn.conf.py"))["forwarded_allow_ips"] == "*"
