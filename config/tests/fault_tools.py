"""Tools for the fault tests: a private Redis, a TCP proxy that can refuse, served processes.

Nothing here touches the machine's shared PostgreSQL or Redis: faults are made
by stopping a Redis server this module started itself, or by closing a proxy
that sits between our own processes and PostgreSQL. Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from config.processes import stop_process

BASE_DIR = Path(__file__).resolve().parents[2]
FACES = BASE_DIR / "cameras" / "tests" / "fixtures" / "faces"
PYTHON = sys.executable
VENV_BIN = Path(PYTHON).parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate: Callable[[], bool], *, timeout: float, interval: float = 0.05, what: str = "") -> None:
    """Polls `predicate` until it is true; raises TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if predicate():
                return
        time.sleep(interval)
    raise TimeoutError(f"gave up after {timeout}s waiting for {what or predicate}")


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


class PrivateRedis:
    """A redis-server of our own on a free loopback port, without persistence.

    `stop()` and `start()` may be called any number of times; the port stays
    the same so URLs handed out earlier point at the restarted server.
    """

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="proof-redis-"))
        self.process: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 10) -> None:
        if self.running:
            return
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.dir), "--logfile", str(self.dir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: port_open(self.port), timeout=timeout, what=f"redis-server on {self.port}")

    def stop(self, timeout: float = 10) -> None:
        if self.process is None:
            return
        stop_process(self.process, timeout=timeout)
        self.process = None
        wait_until(lambda: not port_open(self.port), timeout=timeout, what=f"redis-server on {self.port} to stop")

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> PrivateRedis:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class TcpProxy:
    """Forwards 127.0.0.1:<port> to `target`, in one background thread.

    `refuse()` closes the listening socket and every open connection, so the
    next connection attempt is refused exactly as if the server were down;
    `accept()` listens again on the same port.
    """

    def __init__(self, target_host: str, target_port: int, port: int | None = None):
        self.target = (target_host, target_port)
        self.port = port or free_port()
        self._selector = selectors.DefaultSelector()
        self._listener: socket.socket | None = None
        self._peers: dict[socket.socket, socket.socket] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.connections_made = 0

    # lifecycle -------------------------------------------------------------
    def start(self) -> TcpProxy:
        self.accept()
        self._thread = threading.Thread(target=self._loop, name=f"tcp-proxy-{self.port}", daemon=True)
        self._thread.start()
        return self

    def accept(self) -> None:
        with self._lock:
            if self._listener is not None:
                return
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", self.port))
            listener.listen(64)
            listener.setblocking(False)
            self._listener = listener
            self._selector.register(listener, selectors.EVENT_READ, None)

    def refuse(self) -> None:
        with self._lock:
            if self._listener is not None:
                self._selector.unregister(self._listener)
                self._listener.close()
                self._listener = None
            for sock in list(self._peers):
                self._drop(sock)

    def close(self) -> None:
        self._stopping.set()
        self.refuse()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._selector.close()

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # forwarding ------------------------------------------------------------
    def _drop(self, sock: socket.socket) -> None:
        other = self._peers.pop(sock, None)
        for item in (sock, other):
            if item is None:
                continue
            self._peers.pop(item, None)
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(item)
            with contextlib.suppress(OSError):
                item.close()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                events = self._selector.select(timeout=0.1)
            except (OSError, ValueError):
                time.sleep(0.01)
                continue
            for key, _ in events:
                with self._lock:
                    sock = key.fileobj
                    if sock is self._listener:
                        self._accept_one(sock)
                    elif sock in self._peers:
                        self._pump(sock)

    def _accept_one(self, listener: socket.socket) -> None:
        try:
            client, _ = listener.accept()
        except OSError:
            return
        try:
            upstream = socket.create_connection(self.target, timeout=3)
        except OSError:
            client.close()
            return
        for item in (client, upstream):
            item.setblocking(False)
            self._selector.register(item, selectors.EVENT_READ, None)
        self._peers[client] = upstream
        self._peers[upstream] = client
        self.connections_made += 1

    def _pump(self, sock: socket.socket) -> None:
        other = self._peers[sock]
        try:
            data = sock.recv(65536)
            if not data:
                raise ConnectionResetError
            other.setblocking(True)
            other.settimeout(5)
            other.sendall(data)
            other.setblocking(False)
        except OSError:
            self._drop(sock)


class ServedApp:
    """Our Django project under gunicorn in a child process, on a free loopback port."""

    def __init__(self, env: dict[str, str], *, workers: int = 1, threads: int = 4, timeout: int = 30,
                 args: tuple[str, ...] = ()):
        self.args = args
        self.port = free_port()
        self.env = {**os.environ, **env}
        self.workers = workers
        self.threads = threads
        self.timeout = timeout
        self.log = Path(tempfile.mkstemp(prefix="proof-gunicorn-", suffix=".log")[1])
        self.process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> ServedApp:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(VENV_BIN / "gunicorn"), "config.wsgi", "--bind", f"127.0.0.1:{self.port}",
                 "--workers", str(self.workers), "--threads", str(self.threads),
                 "--timeout", str(self.timeout), "--graceful-timeout", "5", *self.args],
                cwd=BASE_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )

        def live() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.log.read_text()[-2000:]}")
            return httpx.get(f"{self.base_url}/health/live", timeout=1).status_code == 200

        try:
            wait_until(live, timeout=timeout, interval=0.2, what="gunicorn to answer /health/live")
        except Exception:
            self.stop()
            raise
        return self

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is None:
            return
        stop_process(self.process, timeout=10, group=True)
        self.process = None

    def __enter__(self) -> ServedApp:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def bearer(user) -> dict[str, str]:
    from rest_framework_simplejwt.tokens import RefreshToken

    return {"Authorization": f"Bearer {RefreshToken.for_user(user).access_token}"}


def push_frame(web: ServedApp, *, camera_id: int, auth: dict[str, str], data: bytes,
               name: str = "frame.jpg") -> int:
    """Pushes JPEG bytes to a push camera of the served app; the frame must be stored (202): its id."""
    response = httpx.post(f"{web.base_url}/api/v1/cameras/{camera_id}/frames", headers=auth,
                          files={"image": (name, data, "image/jpeg")}, timeout=30)
    assert response.status_code == 202, response.text
    return response.json()["frame"]


FRAME_FINISHED = {"done", "skipped", "failed"}


def wait_for_frame(frame_id: int, *, timeout: float, what: str):
    """The frame, read again once a worker has finished with it (done, skipped or failed)."""
    from cameras.models import Frame

    wait_until(lambda: Frame.objects.get(pk=frame_id).state in FRAME_FINISHED, timeout=timeout, interval=0.2,
               what=what)
    return Frame.objects.get(pk=frame_id)


def push_photo_and_wait(web: ServedApp, *, camera_id: int, auth: dict[str, str], photo: str, timeout: float = 90):
    """Pushes a fixture photo to a push camera of the served app; the frame once a worker has finished it."""
    frame_id = push_frame(web, camera_id=camera_id, auth=auth, data=(FACES / photo).read_bytes(), name=photo)
    return wait_for_frame(frame_id, timeout=timeout, what=f"the worker to process {photo}")


def enrol_photo(web: ServedApp, *, student_id: int, auth: dict[str, str], photo: str = "obama.jpg") -> None:
    """Enrols a fixture photo on a consented student through the served app (201)."""
    response = httpx.post(f"{web.base_url}/api/v1/students/{student_id}/faces", headers=auth,
                          files={"image": (photo, (FACES / photo).read_bytes(), "image/jpeg")}, timeout=60)
    assert response.status_code == 201, response.text


class CeleryWorker:
    """A real `celery worker` child process; `kill()` SIGKILLs its whole process group."""

    def __init__(self, env: dict[str, str], *, app: str = "config", queues: str = "default,frames,polling,maintenance",
                 name: str = "proof"):
        self.env = {**os.environ, **env}
        self.app = app
        self.queues = queues
        self.name = f"{name}-{free_port()}@127.0.0.1"
        self.log = Path(tempfile.mkstemp(prefix="proof-celery-", suffix=".log")[1])
        self.process: subprocess.Popen | None = None

    def start(self) -> CeleryWorker:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(VENV_BIN / "celery"), "-A", self.app, "worker", "-Q", self.queues, "--concurrency", "1",
                 "--pool", "prefork", "--loglevel", "INFO", "-n", self.name, "--without-gossip",
                 "--without-mingle", "--without-heartbeat"],
                cwd=BASE_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        def ready() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"celery worker exited: {self.log.read_text()[-3000:]}")
            return " ready." in self.log.read_text()

        wait_until(ready, timeout=timeout, interval=0.2, what="celery worker to be ready")

    def kill(self) -> None:
        """SIGKILL, no warning: the worker cannot ack, requeue or clean up."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, timeout=15, group=True)

    def __enter__(self) -> CeleryWorker:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# moto's S3-compatible server stands in for MinIO; any key pair is accepted.
S3_REGION = "us-east-1"
S3_ACCESS_KEY = "campus"
S3_SECRET_KEY = "campus-secret"


@contextlib.contextmanager
def s3_server(bucket: str) -> Iterator[str]:
    """moto's S3-compatible HTTP server on a loopback port, with an empty `bucket`; yields its endpoint URL."""
    import boto3
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        boto3.client(
            "s3", endpoint_url=endpoint, region_name=S3_REGION,
            aws_access_key_id=S3_ACCESS_KEY, aws_secret_access_key=S3_SECRET_KEY,
        ).create_bucket(Bucket=bucket)
        yield endpoint
    finally:
        server.stop()


# What production needs to start: real secrets, a host, an email backend (DEBUG=0).
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": secrets.token_urlsafe(60),
    "JWT_SIGNING_KEY": secrets.token_urlsafe(60),
    "FACE_ENCRYPTION_KEY": "ZGV2LW9ubHktZmFjZS1rZXktMzItYnl0ZXMtbG9uZyE=",
    "ALLOWED_HOSTS": "campus.example.edu",
    "METRICS_TOKEN": "t",
    "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
}


def run_with_production_settings(
    code: str = "import django; django.setup()", **overrides: str | None
) -> subprocess.CompletedProcess:
    """Runs `code` in a fresh interpreter with the PRODUCTION environment; an override of None unsets the variable."""
    env = {k: v for k, v in os.environ.items() if k not in PRODUCTION}
    env.update(PRODUCTION, DJANGO_SETTINGS_MODULE="config.settings")
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return subprocess.run([PYTHON, "-c", code], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60)


def database_url_for(settings_dict: dict, *, port: int | None = None, host: str | None = None) -> str:
    """A postgres:// URL for the database Django is using, optionally via another host/port."""
    user = settings_dict.get("USER") or "postgres"
    password = settings_dict.get("PASSWORD") or ""
    auth = f"{user}:{password}@" if password else f"{user}@"
    host = host or settings_dict.get("HOST") or "127.0.0.1"
    port = port or int(settings_dict.get("PORT") or 5432)
    return f"postgres://{auth}{host}:{port}/{settings_dict['NAME']}"


@contextlib.contextmanager
def served(env: dict[str, str], **kwargs) -> Iterator[ServedApp]:
    app = ServedApp(env, **kwargs)
    with app:
        yield app


# --- A task whose progress the test controls ----------------------------------
# Registered on the project's own Celery app; a worker started with
# `celery -A config.tests.fault_tools` is the real `config` app plus this task.
from config.celery import app  # noqa: E402


@app.task(name="proof.blocking_probe", acks_late=True)
def blocking_probe(marker_dir: str, max_wait: float = 60.0) -> str:
    """Notes its start, blocks until `<marker_dir>/release` exists, then notes its end."""
    directory = Path(marker_dir)
    with (directory / "started").open("a") as fh:
        fh.write(f"{os.getpid()}\n")
    deadline = time.monotonic() + max_wait
    while not (directory / "release").exists():
        if time.monotonic() > deadline:
            raise TimeoutError("blocking_probe was never released")
        time.sleep(0.05)
    with (directory / "finished").open("a") as fh:
        fh.write(f"{os.getpid()}\n")
    return "done"


def lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def wait_for_other_sessions_to_end(connection, timeout: float = 10) -> None:
    """Waits until no other backend uses our database (a killed child's session ends a moment later).

    Otherwise pytest-django cannot drop the test database at the end of the run.
    """

    def alone() -> bool:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            return cursor.fetchone()[0] == 0

    with contextlib.suppress(TimeoutError):
        wait_until(alone, timeout=timeout, interval=0.2, what="other database sessions to end")
