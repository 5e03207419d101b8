"""Contract fuzzing from outside: the Schemathesis CLI against gunicorn (DEBUG=0), once per role.

    .venv/bin/python bench/fuzz_contract.py            # 25 examples per operation and role
    .venv/bin/python bench/fuzz_contract.py --quick    # 3 examples: the CI smoke run

Uses PostgreSQL and Redis named by DATABASE_URL and REDIS_URL, but never their
data: it creates (and at the end drops) the database `<name>_fuzz`, and the
server's cache keys carry their own prefix. Steps:

1. create `<name>_fuzz`, migrate it, and make one user per role (admin, staff,
   student, guest) with ids far from the small numbers the fuzzer sends;
2. gunicorn (`config.wsgi`, production settings: DEBUG=0, 2 gthread workers) on a
   free 127.0.0.1 port, with VAR_DIR (static, media, backups) in a temporary folder;
3. for each role: log in through the API for a token, then
   `schemathesis run /api/schema/ --checks all` with that token (none for anonymous);
4. writes the summary to test-artifacts/fuzz-contract.md (committed) and each
   role's full CLI output beside it; exits non-zero if any role had a failure.

Settings of the served app differ from a deployment only where a fuzzer needs it:
a long access-token lifetime (a role's run outlasts 5 minutes) and a high anonymous
throttle (so requests reach the views; 429 is documented and checked regardless).
Schemathesis reads bench/fuzz_contract.toml: strings without U+0000 (refused everywhere
with a 400), and, for named operations only, 400 counted as a documented rejection where
validity depends on the database or on a rule across fields (an id of a row that does not
exist, a value already taken, a date range, a wrong current password, a reset link); the
reason for each group is written there. All checks stay on.
Operations that end the caller's own sessions (logout, session ends, an admin
setting a password) are excluded for the signed-in roles (they would sign the
fuzzer out halfway); the tests cover them.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from base64 import urlsafe_b64encode
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config.processes import stop_process

BASE_DIR = Path(__file__).resolve().parent.parent
ARTIFACTS = BASE_DIR / "test-artifacts"
REPORT = ARTIFACTS / "fuzz-contract.md"
CONFIG = BASE_DIR / "bench" / "fuzz_contract.toml"
PYTHON = sys.executable
SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))
# Admin last: its fuzzing edits users (deactivates, changes roles), which would lock the others out.
ROLES = ["anonymous", "guest", "student", "staff", "admin"]
PASSWORD = "Fuzz-Contract-Pass-2026!"
# End the caller's own sessions: excluded for signed-in roles (see the module docstring). The
# stateful phase finds the caller's own id in `users` and would set its password or end its sessions.
SELF_SIGN_OUT = [
    "auth_sessions_revoke_all", "auth_logout_create", "auth_sessions_revoke",
    "users_password_create", "users_sessions_destroy",
]

SETUP = f"""
import django
django.setup()
from accounts.services import create_user
from accounts.models import User
for offset, role in enumerate(["admin", "staff", "student", "guest"]):
    if not User.objects.filter(username="fuzz-" + role).exists():
        create_user(username="fuzz-" + role, email=f"fuzz-{{role}}@campus.test", password={PASSWORD!r},
                    role=role, id=900_001 + offset)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fuzz_database_url(url: str) -> tuple[str, str]:
    base, _, name = url.rstrip("/").rpartition("/")
    name = name.split("?", 1)[0] + "_fuzz"
    return f"{base}/{name}", name


def run(args: list[str], env: dict[str, str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=BASE_DIR, env=env, check=True, **kwargs)


def admin_sql(env: dict[str, str], statement: str) -> None:
    code = (
        "import os, dj_database_url, psycopg\n"
        "db = dj_database_url.parse(os.environ['ADMIN_DATABASE_URL'])\n"
        "with psycopg.connect(host=db['HOST'] or None, port=db['PORT'] or 5432, user=db['USER'] or None,"
        " password=db['PASSWORD'] or None, dbname='postgres', autocommit=True) as conn:\n"
        f"    conn.execute({statement!r})\n"
    )
    run([PYTHON, "-c", code], env)


def server_env(database_url: str, var_dir: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "JWT_SIGNING_KEY": secrets.token_urlsafe(48),
            "FACE_ENCRYPTION_KEY": urlsafe_b64encode(secrets.token_bytes(32)).decode(),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "0",
            "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
            "DATABASE_URL": database_url,
            "CACHE_KEY_PREFIX": f"fuzz-{os.getpid()}",
            "VAR_DIR": var_dir,
            "LOG_LEVEL": "ERROR",
            "JWT_ACCESS_MINUTES": "240",
            "ACCOUNTS_ANONYMOUS_RATE": "100000/m",
            "BACKUP_REQUIRED": "0",
            "DJANGO_SETTINGS_MODULE": "config.settings",
        }
    )
    return env


def wait_live(base_url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base_url}/health/live", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise SystemExit("gunicorn did not come up")


def access_token(base_url: str, role: str) -> str:
    import json

    body = json.dumps({"username": f"fuzz-{role}", "password": PASSWORD}).encode()
    request = urllib.request.Request(
        f"{base_url}/api/v1/auth/login", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["access"]


def fuzz_role(
    base_url: str, role: str, token: str | None, examples: int, seed: int, env: dict[str, str]
) -> tuple[int, str]:
    args = [
        # Allowances, each with its reason: bench/fuzz_contract.toml.
        SCHEMATHESIS, "--config-file", str(CONFIG), "run", f"{base_url}/api/schema/",
        "--checks", "all",
        "--max-examples", str(examples),
        "--seed", str(seed),
        "--no-shrink",
        "--workers", "2",
        # Generous: on the shared 2-core machine a request waits for a core (30 s timed out at load 90).
        "--request-timeout", "120",
        "--generation-database", "none",
        "--no-color",
        "--suppress-health-check", "all",
    ]
    if token is not None:
        args += ["--header", f"Authorization: Bearer {token}"]
        for operation_id in SELF_SIGN_OUT:
            args += ["--exclude-operation-id", operation_id]
    started = time.monotonic()
    result = subprocess.run(args, cwd=BASE_DIR, env=env, capture_output=True, text=True)
    output = result.stdout + result.stderr
    (ARTIFACTS / f"fuzz-contract-{role}.txt").write_text(output)
    took = time.monotonic() - started
    return result.returncode, f"{output}\n[{role}: exit {result.returncode}, {took:.0f} s]"


def summary_lines(output: str) -> list[str]:
    """The CLI's closing summary (from its SUMMARY banner on), ANSI-free."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", output)
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if "SUMMARY" in line), max(0, len(lines) - 25))
    return lines[start:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 examples per operation and role (CI)")
    parser.add_argument("--examples", type=int, default=None, help="examples per operation (default 25)")
    parser.add_argument("--seed", type=int, default=16, help="generation seed (repeatable runs)")
    parser.add_argument("--roles", default=",".join(ROLES), help="comma-separated subset of " + ",".join(ROLES))
    options = parser.parse_args()
    examples = options.examples or (3 if options.quick else 25)
    roles = [role for role in options.roles.split(",") if role]

    for name in ("DATABASE_URL", "REDIS_URL"):
        if not os.environ.get(name):
            sys.exit(f"{name} must be set (PostgreSQL and Redis of your own).")
    database_url, database_name = fuzz_database_url(os.environ["DATABASE_URL"])
    ARTIFACTS.mkdir(exist_ok=True)
    var_dir = tempfile.mkdtemp(prefix="fuzz-contract-")
    env = server_env(database_url, var_dir)
    env["ADMIN_DATABASE_URL"] = os.environ["DATABASE_URL"]
    admin_sql(env, f'DROP DATABASE IF EXISTS "{database_name}" WITH (FORCE)')
    admin_sql(env, f'CREATE DATABASE "{database_name}"')
    server = None
    server_log_path = Path(var_dir) / "gunicorn.log"
    server_log = server_log_path.open("w")
    results: dict[str, tuple[int, list[str]]] = {}
    try:
        run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], env)
        run([PYTHON, "manage.py", "collectstatic", "--noinput", "-v", "0"], env)
        run([PYTHON, "-c", SETUP], env)
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [str(Path(PYTHON).with_name("gunicorn")), "config.wsgi", "--bind", f"127.0.0.1:{port}",
             "--workers", "2", "--threads", "4", "--timeout", "60"],
            cwd=BASE_DIR, env=env, stdout=subprocess.DEVNULL, stderr=server_log,
        )
        wait_live(base_url)
        # Every token before any fuzzing: the anonymous run hammers the login endpoint, and its
        # per-address limit (kept as deployed) would refuse the next role's login with a 429.
        tokens = {role: access_token(base_url, role) for role in roles if role != "anonymous"}
        for role in roles:
            code, output = fuzz_role(base_url, role, tokens.get(role), examples, options.seed, env)
            print(f"--- {role}: exit {code}", flush=True)
            results[role] = (code, summary_lines(output))
            print("\n".join(results[role][1]), flush=True)
            # After each role, so a run cut short still leaves what it found.
            write_report(results, examples, options, roles, tracebacks=server_log_path.read_text().count("Traceback"))
    finally:
        if server is not None:
            stop_process(server, timeout=30)
        server_log.close()
        server_errors = server_log_path.read_text()
        admin_sql(env, f'DROP DATABASE IF EXISTS "{database_name}" WITH (FORCE)')

    tracebacks = server_errors.count("Traceback")
    failed = write_report(results, examples, options, roles, tracebacks=tracebacks)
    print(f"report: {REPORT.relative_to(BASE_DIR)}")
    return 1 if failed or tracebacks or len(results) < len(roles) else 0


def write_report(results: dict, examples: int, options, roles: list[str], *, tracebacks: int) -> list[str]:
    """Writes test-artifacts/fuzz-contract.md; returns the roles that had failures."""
    failed = [role for role, (code, _) in results.items() if code != 0]
    missing = [role for role in roles if role not in results]
    lines = [
        "# Contract fuzzing: Schemathesis CLI against gunicorn, per role",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `bench/fuzz_contract.py"
        f"{' --quick' if options.quick else ''}`: `--checks all`, {examples} examples per operation,"
        f" seed {options.seed}, gunicorn with DEBUG=0 (2 workers x 4 threads), PostgreSQL and Redis.",
        "",
        f"Result: **{'0 failures' if not failed else 'failures in ' + ', '.join(failed)}**;"
        f" tracebacks in the server log: {tracebacks}."
        + (f" Not run (yet): {', '.join(missing)}." if missing else ""),
        "",
    ]
    for role, (code, summary) in results.items():
        lines += [f"## {role} (exit {code})", "", "```", *summary, "```", ""]
    REPORT.write_text("\n".join(lines))
    return failed


if __name__ == "__main__":
    sys.exit(main())
