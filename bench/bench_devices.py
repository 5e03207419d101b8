"""Device fleet benchmark: gunicorn on loopback, `simulate_devices` with 1,000 devices.

    .venv/bin/python bench/bench_devices.py                       # 1,000 devices, 60 s, a heartbeat every 10 s
    .venv/bin/python bench/bench_devices.py --devices 200 --duration 20   # a smoke run

Uses the PostgreSQL database and Redis named by DATABASE_URL and REDIS_URL (use
your own database: it deletes and re-creates the `bench-` devices there). Steps:

1. `manage.py migrate`; delete earlier bench devices; provision N devices with
   credentials in bulk through `devices.services.provision_devices` (registration
   itself is covered by the tests; here the heartbeat path is measured);
2. gunicorn (`config.wsgi`, production settings, gthread workers) on a free
   127.0.0.1 port, waiting for /health/live;
3. `manage.py simulate_devices N --credentials FILE` in a second process: every
   device pulls its config, then heartbeats every `--interval` seconds (closed loop: a
   device waits for its reply, so when the server is the bottleneck the rate
   measured is the server's capacity) until `--duration` is up;
4. prints heartbeats/s sustained (after the ramp-up) and p50/p99 latency, and
   writes bench/out/devices.json. gunicorn is stopped at the end, always.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from base64 import urlsafe_b64encode
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config.processes import stop_process

BASE_DIR = Path(__file__).resolve().parent.parent
OUT_DIR = BASE_DIR / "bench" / "out"
PYTHON = sys.executable
SERIAL_PREFIX = "bench-"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(args) -> dict[str, str]:
    """Production settings (DEBUG off: no query log, JSON logs at WARNING) with throwaway secrets."""
    env = dict(os.environ)
    for name in ("DATABASE_URL", "REDIS_URL"):
        if not env.get(name):
            sys.exit(f"{name} must be set (PostgreSQL and Redis of your own).")
    secret = secrets.token_urlsafe(48)
    env.update(
        {
            "DEBUG": "0",
            "SECRET_KEY": secret,
            "JWT_SIGNING_KEY": secrets.token_urlsafe(48),
            "FACE_ENCRYPTION_KEY": urlsafe_b64encode(secrets.token_bytes(32)).decode(),
            # The bench process provisions the credentials; the server must hash them the same way.
            "DEVICE_CREDENTIAL_KEY": secrets.token_urlsafe(32),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "0",
            "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
            "LOG_LEVEL": "WARNING",
            "DEVICE_HEARTBEAT_MAX_PER_MINUTE": str(max(120, int(120 / max(args.interval, 0.01)))),
            "DB_POOL_MAX": str(args.threads + 2),
            # Every simulated device registers from 127.0.0.1.
            "DEVICE_REGISTRATIONS_PER_IP_PER_MINUTE": str(args.devices * 2),
        }
    )
    return env


def prepare(env: dict[str, str], devices: int, credentials_path: Path) -> None:
    """Migrates, clears earlier bench devices and provisions `devices` new ones.

    Devices are provisioned in bulk (`devices.services.provision_devices`), so the
    measured phase is heartbeats, not a thousand registrations (registration is
    exercised by the tests and by `simulate_devices --token`).
    """
    subprocess.run([PYTHON, "manage.py", "migrate", "-v0"], cwd=BASE_DIR, env=env, check=True)
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django

    django.setup()
    from django.db import connections

    from devices.models import Device
    from devices.services import provision_devices

    deleted = Device.objects.filter(serial__startswith=SERIAL_PREFIX).delete()[0]
    if deleted:
        print(f"deleted {deleted} rows of earlier bench devices")
    run = secrets.token_hex(3)
    serials = [f"{SERIAL_PREFIX}{run}-{index:05d}" for index in range(devices)]
    credentials = provision_devices(serials=serials, actor_label="bench_devices")
    credentials_path.write_text(json.dumps(credentials))
    credentials_path.chmod(0o600)
    connections.close_all()


def start_gunicorn(env: dict[str, str], port: int, args) -> subprocess.Popen:
    command = [
        str(Path(PYTHON).parent / "gunicorn"),
        "config.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(args.workers),
        "--worker-class",
        "gthread",
        "--threads",
        str(args.threads),
        "--backlog",
        "2048",
        "--timeout",
        "60",
        # Devices keep their connection between heartbeats; gunicorn's 2 s default would
        # close it under them and turn into client read errors.
        "--keep-alive",
        "75",
        "--log-level",
        "warning",
    ]
    server = subprocess.Popen(command, cwd=BASE_DIR, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"gunicorn exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/live", timeout=1) as response:
                if response.status == 200:
                    return server
        except OSError:
            time.sleep(0.3)
    server.terminate()
    sys.exit("gunicorn did not answer /health/live within 30 s")


def server_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of gunicorn's master and workers, from /proc (Linux)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(child) for child in children.read_text().split()]
    for each in pids:
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=60, help="Seconds the devices run (max 600 here).")
    parser.add_argument("--interval", type=float, default=10.0, help="Seconds between a device's heartbeats.")
    parser.add_argument("--ramp-up", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=max(2, os.cpu_count() or 2))
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--connections", type=int, default=200)
    args = parser.parse_args()
    if not 1 <= args.devices <= 5000 or not 0 < args.duration <= 600:
        sys.exit("--devices must be 1..5000 and --duration 0..600.")

    env = server_env(args)
    credentials_path = Path(tempfile.mkdtemp(prefix="bench-devices-")) / "credentials.json"
    prepare(env, args.devices, credentials_path)
    port = free_port()
    server = start_gunicorn(env, port, args)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    report_path = OUT_DIR / "devices-simulation.json"
    try:
        simulate = [
            PYTHON,
            "manage.py",
            "simulate_devices",
            str(args.devices),
            "--url",
            f"http://127.0.0.1:{port}",
            "--credentials",
            str(credentials_path),
            "--duration",
            str(args.duration),
            "--interval",
            str(args.interval),
            "--ramp-up",
            str(args.ramp_up),
            "--connections",
            str(args.connections),
            "--serial-prefix",
            SERIAL_PREFIX,
            "--report",
            str(report_path),
        ]
        cpu_before = server_cpu_seconds(server.pid)
        subprocess.run(simulate, cwd=BASE_DIR, env=env, check=False)
        cpu_used = server_cpu_seconds(server.pid) - cpu_before
    finally:
        credentials_path.unlink(missing_ok=True)
        stop_process(server, timeout=20)
    if not report_path.exists():
        sys.exit("the simulation wrote no report")
    summary = json.loads(report_path.read_text())
    # Requests the server answered: heartbeats, config pulls (200 and 304), rate-limited ones.
    requests = (
        summary["heartbeats"] + summary["config_pulls"] + summary["config_not_modified"] + summary["rate_limited"]
    )
    cpu_ms = round(cpu_used * 1000 / requests, 2) if requests else None
    result = {
        "devices": args.devices,
        "duration_seconds": args.duration,
        "interval_seconds": args.interval,
        "gunicorn": f"{args.workers} workers x {args.threads} threads (gthread)",
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        "server_cpu_seconds": round(cpu_used, 2),
        # Independent of how busy the machine is: what one request costs the server.
        "server_cpu_ms_per_request": cpu_ms,
        "requests_per_cpu_second": round(1000 / cpu_ms, 1) if cpu_ms else None,
        **summary,
    }
    (OUT_DIR / "devices.json").write_text(json.dumps(result, indent=2))
    print()
    print("| devices | registered | heartbeats/s sustained | p50 ms | p99 ms | rate-limited | errors |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {args.devices} | {summary['registered']} | {summary['sustained_heartbeats_per_second']} | "
        f"{summary['heartbeat_p50_ms']} | {summary['heartbeat_p99_ms']} | {summary['rate_limited']} | "
        f"{sum(summary['errors'].values())} |"
    )
    print(
        f"server CPU per request {cpu_ms} ms (= {result['requests_per_cpu_second']} requests per CPU-second); "
        f"load average at the end {result['load_average_1m_at_end']}"
    )
    print(f"({result['gunicorn']}; {result['machine']}; results in {OUT_DIR / 'devices.json'})")


if __name__ == "__main__":
    main()
