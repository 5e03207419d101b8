"""Production settings refuse to start without real secrets."""

import os
import subprocess
import sys

import pytest

from .fault_tools import BASE_DIR, PRODUCTION, run_with_production_settings


def test_production_settings_load_with_real_secrets():
    result = run_with_production_settings()
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"SECRET_KEY": None}, "SECRET_KEY must be set"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY must be a real secret"),
        ({"ALLOWED_HOSTS": None}, "ALLOWED_HOSTS must be set"),
        # The console default would write password-reset links (live tokens) to the server log.
        ({"EMAIL_BACKEND": None}, "EMAIL_BACKEND must be set"),
    ],
    ids=["no-secret-key", "short-secret-key", "no-allowed-hosts", "no-email-backend"],
)
def test_production_refuses_to_load_without(overrides, message):
    # The JWT signing key's rules are accounts' (accounts/tests/test_startup_rules.py).
    result = run_with_production_settings(**overrides)
    assert result.returncode != 0
    assert message in result.stderr


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


def test_production_may_choose_the_console_backend_explicitly():
    assert run_with_production_settings(EMAIL_BACKEND="django.core.mail.backends.console.EmailBackend").returncode == 0


def test_forwarded_proto_is_ignored_without_a_trusted_proxy():
    result = run_with_production_settings(PROBE_PROXY, TRUSTED_PROXY_COUNT="0")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "None"


def test_forwarded_proto_is_trusted_behind_a_proxy():
    result = run_with_production_settings(PROBE_PROXY, TRUSTED_PROXY_COUNT="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "('HTTP_X_FORWARDED_PROTO', 'https')"


def test_self_registration_is_off_by_default_in_production():
    code = "import django; django.setup(); from django.conf import settings; print(settings.ALLOW_SELF_REGISTRATION)"
    result = run_with_production_settings(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_gunicorn_trusts_forwarded_scheme_headers_only_behind_a_proxy(monkeypatch):
    import runpy

    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    monkeypatch.setenv("TRUSTED_PROXY_COUNT", "0")
    assert runpy.run_path(str(BASE_DIR / "gunicorn.conf.py"))["forwarded_allow_ips"] == ""
    monkeypatch.setenv("TRUSTED_PROXY_COUNT", "1")
    assert runpy.run_path(str(BASE_DIR / "gunicorn.conf.py"))["forwarded_allow_ips"] == "*"


def _bare_manage(*args: str) -> subprocess.CompletedProcess:
    """manage.py as a fresh checkout runs it: no DEBUG, no secrets, no .env of ours."""
    env = {key: value for key, value in os.environ.items() if key not in {*PRODUCTION, "DATABASE_URL", "REDIS_URL"}}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("args", [["makemigrations", "--check", "--dry-run"], ["check"]])
def test_code_only_commands_run_in_a_fresh_checkout_without_secrets(args):
    result = _bare_manage(*args)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("args", [["migrate", "--plan"], ["check", "--deploy"]])
def test_other_commands_refuse_without_secrets_in_one_clear_line(args):
    result = _bare_manage(*args)
    assert result.returncode == 1
    assert f"manage.py {args[0]}: SECRET_KEY must be set when DEBUG is off." in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("setting", "expected"), [
    (None, "True 5"),  # the default: server-side binding, prepared after 5 runs
    ("0", "None None"),  # behind a PgBouncer that cannot keep prepared statements
])
def test_prepared_statements_follow_their_setting(setting, expected):
    code = ("import django; django.setup(); from django.conf import settings; "
            "options = settings.DATABASES['default']['OPTIONS']; "
            "print(options.get('server_side_binding'), options.get('prepare_threshold'))")
    result = run_with_production_settings(code, DB_PREPARED_STATEMENTS=setting,
                                          DATABASE_URL="postgres://postgres@127.0.0.1:5432/campus")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected
