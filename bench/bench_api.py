"""API load benchmark: gunicorn on loopback, a scaled-up campus, an async load generator.

    .venv/bin/python bench/bench_api.py                  # seed (once), serve, measure, print a table
    .venv/bin/python bench/bench_api.py --skip-seed      # reuse the data already in DATABASE_URL
    .venv/bin/python bench/bench_api.py --quick          # small counts, for a smoke run

It uses the PostgreSQL database and Redis named by DATABASE_URL and REDIS_URL
(use a database of your own: the seed writes a lot). Steps:

1. `manage.py migrate` and `manage.py seed_demo --students N` (10,000 by default);
2. a term of class sessions and at least `--rows` attendance records (1,000,000 by
   default), made in PostgreSQL with one INSERT ... SELECT each (seconds, not hours);
3. bench users, a device and a camera, made through the apps' own services;
4. gunicorn on a free 127.0.0.1 port (and a second one with the dashboard cache off
   for the "uncached" figure);
5. the load generator in a second process (`--load-plan FILE`): asyncio + httpx,
   a bounded number of requests per endpoint, a fixed concurrency and a time cap,
   loopback only. Endpoints that do not exist yet are reported "not available".

Results go to bench/out/results.json and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import math
import os
import pickle
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

# The project's root, for config.percentiles here and the apps later (also in the load generator's process).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config.percentiles import not_2xx, percentiles

BASE_DIR = Path(__file__).resolve().parent.parent
OUT_DIR = BASE_DIR / "bench" / "out"
VENV_BIN = Path(sys.executable).parent
# Real photos for the frame-push scenario: the project's own test fixtures (a fresh clone has them).
FACE_PHOTO = Path(os.environ.get("BENCH_FACE_PHOTO", BASE_DIR / "cameras/tests/fixtures/faces/obama.jpg"))
BENCH_PASSWORD = "Bench-Load-2026-!x"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


# --- What the load generator runs -------------------------------------------------

@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    json: object | None = None
    content: bytes | None = None
    files: dict[str, tuple[str, bytes, str]] | None = None
    # Stop at the first byte of the body and hang up (a streamed download's time to first byte).
    first_byte: bool = False


@dataclass
class Scenario:
    name: str
    base_url: str
    requests: list[Request]
    concurrency: int
    time_cap: float
    warmup: int = 10
    # Each request is used once (tokens that rotate, frames that must differ).
    single_use: bool = False
    note: str = ""


@dataclass
class Result:
    name: str
    available: bool
    note: str = ""
    requests: int = 0
    errors: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    rps: float = 0.0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0
    ratio_to_ping: float | None = None


class NotAvailable(Exception):
    """The endpoint or the data it needs does not exist (yet)."""


def check_loopback(url: str) -> None:
    host = urlsplit(url).hostname or ""
    if host not in LOOPBACK and not host.startswith("127."):
        raise SystemExit(f"refusing to send load to {host!r}: loopback only")


async def send(client, req: Request):
    if req.first_byte:
        async with client.stream(req.method, req.path, headers=req.headers) as response:
            async for chunk in response.aiter_raw():
                if chunk:
                    break
            return response
    return await client.request(req.method, req.path, headers=req.headers, json=req.json, content=req.content,
                                files=req.files)


async def run_scenario(scenario: Scenario) -> Result:
    import httpx

    check_loopback(scenario.base_url)
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    limits = httpx.Limits(max_connections=scenario.concurrency, max_keepalive_connections=scenario.concurrency)
    async with httpx.AsyncClient(base_url=scenario.base_url, timeout=30, limits=limits) as client:
        queue = list(scenario.requests)
        warm = queue[: scenario.warmup] if scenario.single_use else [queue[0]] * scenario.warmup
        if scenario.single_use:
            queue = queue[scenario.warmup:]
        for req in warm:  # connections opened, caches filled; not measured
            await send(client, req)
        position = 0
        deadline = time.perf_counter() + scenario.time_cap

        async def worker() -> None:
            nonlocal position
            while position < len(queue) and time.perf_counter() < deadline:
                req = queue[position]
                position += 1
                started = time.perf_counter()
                try:
                    response = await send(client, req)
                    status = str(response.status_code)
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                latencies.append((time.perf_counter() - started) * 1000)
                statuses[status] += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(scenario.concurrency)))
        elapsed = time.perf_counter() - started
    p50_ms, p95_ms, p99_ms = percentiles(latencies, (0.50, 0.95, 0.99), digits=1)
    return Result(
        name=scenario.name, available=True, note=scenario.note, requests=len(latencies),
        errors=sum(not_2xx(statuses).values()), statuses=dict(statuses), seconds=round(elapsed, 2),
        rps=round(len(latencies) / elapsed, 1) if elapsed else 0.0, p50_ms=p50_ms, p95_ms=p95_ms, p99_ms=p99_ms,
    )


def load_main(plan_path: str, results_path: str) -> int:
    """The second process: runs every scenario of the plan in turn, writes the results."""
    with open(plan_path, "rb") as fh:
        scenarios: list[Scenario] = pickle.load(fh)  # noqa: S301 - a file this script wrote a moment ago
    results = []
    for scenario in scenarios:
        print(f"  load: {scenario.name} ({len(scenario.requests)} requests, c={scenario.concurrency})", flush=True)
        results.append(asdict(asyncio.run(run_scenario(scenario))))
    Path(results_path).write_text(json.dumps(results, indent=2))
    return 0


# --- Serving ------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    def __init__(self, env: dict[str, str], workers: int, threads: int, log: Path):
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env, self.workers, self.threads, self.log = env, workers, threads, log
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Gunicorn:
        import httpx

        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(VENV_BIN / "gunicorn"), "config.wsgi", "--bind", f"127.0.0.1:{self.port}",
                 "--workers", str(self.workers), "--threads", str(self.threads), "--timeout", "60",
                 # Idle keep-alive connections outlive the pauses between scenarios (no spurious ReadErrors).
                 "--keep-alive", "75"],
                cwd=BASE_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"gunicorn exited; see {self.log}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base_url}/health/ready", timeout=2).status_code == 200:
                    return self
            time.sleep(0.3)
        self.__exit__()
        raise SystemExit(f"gunicorn did not become ready; see {self.log}")

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


# --- Data -----------------------------------------------------------------------------

def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, text=True,
                          capture_output=True, check=False)


def seed(students: int, env: dict[str, str]) -> str:
    done = manage("migrate", "--noinput", "-v0", env=env)
    if done.returncode:
        raise SystemExit(f"migrate failed:\n{done.stderr[-3000:]}")
    started = time.perf_counter()
    # The bench writes its own year of records below; seed_demo's history would only be slower.
    done = manage("seed_demo", "--students", str(students), "--history-days", "0", env=env)
    if done.returncode:
        return f"seed_demo --students {students} failed: {(done.stderr or done.stdout).strip()[-500:]}"
    return f"seed_demo --students {students}: {time.perf_counter() - started:.0f}s"


def _insert_select(table: str, model, values: dict[str, str], source_sql: str, conflict: str) -> tuple[str, list]:
    """INSERT INTO table (...) SELECT <values> ...: every NOT NULL column the database cannot fill itself.

    A column comes from `values` (an SQL expression) or else from the model field:
    nullable columns and columns with a database default are left out, and a
    field with a Python default (`default=False`, `default=list`) gets that
    default as a query parameter. So the next field added to the model cannot
    break the seed; a NOT NULL field with no default at all is named at once.
    Returns the SQL and its parameters.
    """
    from django.db import connection
    from django.db.models.fields import NOT_PROVIDED

    columns, expressions, params = [], [], []
    for f in model._meta.concrete_fields:
        if f.primary_key:
            continue
        if f.column in values:
            columns.append(f.column)
            expressions.append(values[f.column].replace("%", "%%"))  # the query has parameters
            continue
        if f.null or getattr(f, "db_default", NOT_PROVIDED) is not NOT_PROVIDED:
            continue
        if not f.has_default() and not (f.blank and f.empty_strings_allowed):
            raise NotAvailable(f"{table}.{f.column} is NOT NULL with no default and no value in the bench generator")
        columns.append(f.column)
        expressions.append("%s")
        params.append(f.get_db_prep_save(f.get_default(), connection))
    source_sql = source_sql.replace("%", "%%")
    sql = (f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(expressions)} {source_sql} "
           f"ON CONFLICT {conflict} DO NOTHING")
    return sql, params


def generate_attendance(target_rows: int, *, max_weeks: int = 52) -> str:
    """A term of closed class sessions for every timetable slot, and a record per enrolled student.

    Runs entirely inside PostgreSQL (INSERT ... SELECT over generate_series), so
    a million rows take seconds. Idempotent: existing sessions/records are kept.
    """
    from django.db import connection

    from attendance.models import AttendanceRecord, ClassSession

    sessions_table, records_table = ClassSession._meta.db_table, AttendanceRecord._meta.db_table
    with connection.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {records_table}")  # noqa: S608
        existing = cur.fetchone()[0]
        if existing >= target_rows:
            return f"{existing:,} attendance records already there"
        cur.execute(
            "SELECT coalesce(sum(n), 0) FROM (SELECT (SELECT count(*) FROM campus_enrolment e "
            "WHERE e.section_id = s.section_id) AS n FROM campus_timetableslot s) t"
        )
        per_week = int(cur.fetchone()[0])
        if per_week == 0:
            raise NotAvailable("no timetable slots with enrolled students (did seed_demo run?)")
        weeks = min(max_weeks, math.ceil(target_rows / per_week) + 1)
        started = time.perf_counter()
        # The term ends last week, so today's sessions stay to the app's own beat tasks.
        session_values = {
            "created_at": "now()", "updated_at": "now()", "slot_id": "s.id", "section_id": "s.section_id",
            "room_id": "s.room_id", "date": "d::date",
            "scheduled_start": "(d::date + s.start_time) AT TIME ZONE 'UTC'",
            "scheduled_end": "(d::date + s.end_time) AT TIME ZONE 'UTC'",
            "status": "'closed'", "opened_at": "(d::date + s.start_time) AT TIME ZONE 'UTC'",
            "closed_at": "(d::date + s.end_time) AT TIME ZONE 'UTC'", "camera_coverage": "1.0",
            "unverified_reason": "''",
        }
        cur.execute(
            *_insert_select(
                sessions_table, ClassSession, session_values,
                "FROM campus_timetableslot s CROSS JOIN generate_series("
                f"current_date - 7 * {weeks}, current_date - 7, interval '1 day') d "
                "WHERE extract(isodow FROM d)::int - 1 = s.weekday",
                "(slot_id, date)",
            )
        )
        sessions_made = cur.rowcount
        # Status spread: ~80 % present, 8 % late, 10 % absent, 2 % excused; deterministic per row.
        record_values = {
            "created_at": "cs.scheduled_end", "updated_at": "cs.scheduled_end", "session_id": "cs.id",
            "student_id": "cs.student_id",
            "status": "(CASE WHEN h < 80 THEN 'present' WHEN h < 88 THEN 'late' WHEN h < 98 THEN 'absent' "
                      "ELSE 'excused' END)",
            "source": "(CASE WHEN h < 88 THEN 'face' ELSE 'manual' END)",
            "first_seen_at": "(CASE WHEN h < 88 THEN cs.scheduled_start + (h % 15) * interval '1 minute' END)",
            "last_seen_at": "(CASE WHEN h < 88 THEN cs.scheduled_end - (h % 10) * interval '1 minute' END)",
            "sightings_count": "(CASE WHEN h < 88 THEN 1 + h % 40 ELSE 0 END)",
            "confidence": "(CASE WHEN h < 88 THEN 0.30 + (h % 15) / 100.0 END)",
            "note": "''", "early_leave": "false",
        }
        cur.execute(
            *_insert_select(
                records_table, AttendanceRecord, record_values,
                "FROM (SELECT cs.id, cs.scheduled_start, cs.scheduled_end, e.student_id, "  # noqa: S608 - table names from model meta
                "(cs.id * 7919 + e.student_id * 104729) % 100 AS h "
                f"FROM {sessions_table} cs JOIN campus_enrolment e ON e.section_id = cs.section_id "
                "WHERE cs.status = 'closed' AND (e.left_on IS NULL OR e.left_on >= cs.date)) cs",
                "(session_id, student_id)",
            )
        )
        records_made = cur.rowcount
        cur.execute(f"ANALYZE {sessions_table}")
        cur.execute(f"ANALYZE {records_table}")
        cur.execute(f"SELECT count(*) FROM {records_table}")  # noqa: S608
        total = cur.fetchone()[0]
    return (f"{weeks} weeks: {sessions_made:,} sessions and {records_made:,} records inserted in "
            f"{time.perf_counter() - started:.0f}s; {total:,} attendance records in all")


def generate_sightings(target_rows: int) -> str:
    """Face sightings behind the camera-marked records: one per record, newest first, up to `target_rows`.

    Each room gets a push camera (made through cameras' own service); the sightings
    are then one INSERT ... SELECT, like the records. Idempotent.
    """
    from django.db import connection

    from attendance.models import AttendanceRecord
    from cameras.models import Camera, FaceSighting
    from cameras.services import create_camera
    from campus.models import Room

    for room in Room.objects.filter(cameras__isnull=True).distinct():
        create_camera(name=f"bench-{room.code}", room=room, source_kind="push")
    table, records_table = FaceSighting._meta.db_table, AttendanceRecord._meta.db_table
    cameras_table = Camera._meta.db_table
    with connection.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {table}")  # noqa: S608
        existing = cur.fetchone()[0]
        if existing >= target_rows:
            return f"{existing:,} face sightings already there"
        started = time.perf_counter()
        values = {
            "created_at": "r.first_seen_at", "updated_at": "r.first_seen_at", "camera_id": "r.camera_id",
            "room_id": "r.room_id", "seen_at": "r.first_seen_at", "student_id": "r.student_id",
            "distance": "0.6 - r.confidence", "session_id": "r.session_id", "record_id": "r.id",
            "outcome": "'marked'", "match_reason": "'match'",
        }
        cur.execute(
            *_insert_select(
                table, FaceSighting, values,
                "FROM (SELECT r.id, r.first_seen_at, r.confidence, r.student_id, r.session_id, cs.room_id, "  # noqa: S608
                f"(SELECT min(c.id) FROM {cameras_table} c WHERE c.room_id = cs.room_id) AS camera_id "
                f"FROM {records_table} r JOIN attendance_classsession cs ON cs.id = r.session_id "
                f"WHERE r.source = 'face' AND r.first_seen_at IS NOT NULL "
                f"AND NOT EXISTS (SELECT 1 FROM {table} f WHERE f.record_id = r.id) "
                f"ORDER BY r.created_at DESC LIMIT {int(target_rows - existing)}) r",
                "",
            )
        )
        made = cur.rowcount
        cur.execute(f"ANALYZE {table}")
    if not made:
        return f"{existing:,} face sightings already there (one per camera-marked record)"
    return f"{made:,} face sightings inserted in {time.perf_counter() - started:.0f}s; {existing + made:,} in all"


# --- Bench actors (users, device, camera) ------------------------------------------------

@dataclass
class Actors:
    staff_access: str = ""
    student_access: str = ""
    admin_access: str = ""
    staff_login: str = ""
    device_credential: str = ""
    camera_id: int | None = None
    notes: list[str] = field(default_factory=list)


def _access_for(user) -> str:
    from rest_framework_simplejwt.tokens import RefreshToken

    return str(RefreshToken.for_user(user).access_token)


def make_actors() -> Actors:
    from accounts.models import User
    from accounts.services import apply_role, create_user

    actors = Actors()

    def user(username: str, role: str) -> User:
        existing = User.objects.filter(username=username).first()
        if existing is None:
            return create_user(username=username, email=f"{username}@bench.test", password=BENCH_PASSWORD, role=role)
        existing.set_password(BENCH_PASSWORD)
        existing.is_active = True
        existing.save()
        apply_role(user=existing, role=role)
        return existing

    admin, staff = user("bench-admin", "admin"), user("bench-staff", "staff")
    # The bench's staff user reads campus-wide lists, as a registrar does: a teacher's scope
    # (their own sections) would leave the staff scenarios with empty pages.
    from django.contrib.auth.models import Permission

    staff.user_permissions.add(Permission.objects.get(content_type__app_label="accounts", codename="view_all_students"))
    student_user = user("bench-student", "student")
    actors.admin_access, actors.staff_access = _access_for(admin), _access_for(staff)
    actors.staff_login = staff.username
    try:
        from campus.models import Student

        student = Student.objects.filter(user=student_user).first()
        if student is None:
            # The busiest student without an account becomes the bench student.
            from django.db.models import Count

            student = (Student.objects.filter(user__isnull=True).annotate(n=Count("attendance_records"))
                       .order_by("-n").first())
            if student is None:
                raise NotAvailable("no students")
            student.user = student_user
            student.save(update_fields=["user"])
        actors.student_access = _access_for(student_user)
        actors.notes.append(f"bench student {student.student_number}: {student.attendance_records.count()} records")
    except Exception as exc:
        actors.notes.append(f"student actor: {exc}")
    try:
        actors.device_credential, actors.camera_id = make_device_and_camera(admin)
    except Exception as exc:
        actors.notes.append(f"device/camera actor: {type(exc).__name__}: {exc}")
    return actors


def make_device_and_camera(admin) -> tuple[str, int | None]:
    """A device credential and a camera bound to it, made through the apps' own services."""
    from cameras.models import Camera
    from cameras.services import create_camera
    from campus.models import Room
    from devices.services import create_registration_token, register_device

    room = Room.objects.order_by("pk").first()
    if room is None:
        raise NotAvailable("no rooms")
    from devices.models import Device
    from devices.services import revoke_credentials

    # A run on data seeded before (--skip-seed) finds the device registered: an admin revokes its
    # credential first, as one would for a box being set up again.
    known = Device.objects.filter(serial="bench-edge-1").first()
    if known is not None:
        revoke_credentials(device=known, actor=admin)
    _, token = create_registration_token(actor=admin, label="bench", room=room)
    registration = register_device(token=token, serial="bench-edge-1", name="Bench edge box")
    camera = Camera.objects.filter(name="bench-push", room=room).first()
    if camera is None:
        camera = create_camera(actor=admin, name="bench-push", room=room, source_kind="push",
                               device=registration.device)
    elif camera.device_id != registration.device.pk:
        camera.device = registration.device
        camera.save(update_fields=["device"])
    return registration.credential, camera.pk


def frame_bodies(count: int) -> list[bytes]:
    """`count` different 640x480 JPEGs, cycling through the shared face photos.

    Consecutive frames show different scenes, so the cameras app's motion gate
    lets them through (a static scene is skipped at intake and would measure
    the cheap path); a changed pixel makes every frame unique (no duplicates).
    """
    from PIL import Image

    photos = sorted(FACE_PHOTO.parent.glob("*.jpg"))
    if not photos:
        raise NotAvailable(f"no face photos in {FACE_PHOTO.parent}")
    bases = []
    for path in photos:
        image = Image.open(path).convert("RGB")
        image.thumbnail((640, 480))
        canvas = Image.new("RGB", (640, 480), (40, 40, 40))
        canvas.paste(image, ((640 - image.width) // 2, (480 - image.height) // 2))
        bases.append(canvas)
    bodies = []
    for i in range(count):
        image = bases[i % len(bases)].copy()
        image.putpixel((i % 640, (i // 640) % 480), (i % 256, (i * 7) % 256, 0))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=85)
        bodies.append(buffer.getvalue())
    return bodies


def refresh_tokens(username: str, count: int) -> list[str]:
    """`count` independent refresh tokens (separate sessions) for one user, via accounts' sessions."""
    from accounts.models import User
    from accounts.sessions import start_session

    user = User.objects.get(username=username)
    return [start_session(user=user).refresh for _ in range(count)]


# --- The plan --------------------------------------------------------------------------

def build_plan(args, actors: Actors, url: str, uncached_url: str) -> tuple[list[Scenario], list[Result]]:
    from django.urls import NoReverseMatch, reverse

    n, c, cap = args.requests, args.concurrency, args.time_cap
    plan: list[Scenario] = []
    missing: list[Result] = []

    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def route(name: str, **kwargs) -> str:
        try:
            return reverse(name, kwargs=kwargs or None)
        except NoReverseMatch:
            raise NotAvailable(f"no URL named {name!r}")

    def add(name: str, make) -> None:
        try:
            plan.append(make())
        except NotAvailable as exc:
            missing.append(Result(name=name, available=False, note=str(exc)))
        except Exception as exc:
            missing.append(Result(name=name, available=False, note=f"{type(exc).__name__}: {exc}"))

    ping = [Request("GET", "/api/v1/ping")] * n
    add("ping (framework ceiling)", lambda: Scenario("ping (framework ceiling)", url, ping, c, cap))

    def login() -> Scenario:
        path = route("auth-login")
        body = {"username": actors.staff_login, "password": BENCH_PASSWORD}
        count = max(50, n // 10)  # Argon2 is slow on purpose: fewer requests
        return Scenario("login (Argon2)", url, [Request("POST", path, json=body)] * count, c, cap,
                        note="password hashing dominates")
    add("login (Argon2)", login)

    def refresh() -> Scenario:
        path = route("auth-refresh")
        count = max(100, n // 4)
        tokens = refresh_tokens(actors.staff_login, count + 10)
        return Scenario("token refresh (rotation)", url, [Request("POST", path, json={"refresh": t}) for t in tokens],
                        c, cap, warmup=10, single_use=True)
    add("token refresh (rotation)", refresh)

    def records() -> Scenario:
        if not actors.staff_access:
            raise NotAvailable("no staff token")
        path = route("attendance-record-list")
        return Scenario("attendance records list (staff)", url, [Request("GET", path, bearer(actors.staff_access))] * n,
                        c, cap, note="first page, newest first")
    add("attendance records list (staff)", records)

    def own() -> Scenario:
        if not actors.student_access:
            raise NotAvailable("no student linked to a user")
        path = route("attendance-me")
        own = [Request("GET", path, bearer(actors.student_access))] * n
        return Scenario("own attendance (student)", url, own, c, cap)
    add("own attendance (student)", own)

    def staff_get(name: str, path: str, note: str = "", **extra) -> Scenario:
        if not actors.staff_access:
            raise NotAvailable("no staff token")
        return Scenario(name, url, [Request("GET", path, bearer(actors.staff_access), **extra)] * n, c, cap, note=note)

    add("sessions list (staff)", lambda: staff_get("sessions list (staff)", route("attendance-session-list"),
                                                   "first page, latest first"))
    add("face sightings list (staff)", lambda: staff_get("face sightings list (staff)", route("facesighting-list"),
                                                         "first page, latest first"))

    def section_report() -> Scenario:
        from campus.models import Section

        section = Section.objects.order_by("pk").first()
        if section is None:
            raise NotAvailable("no sections")
        return staff_get("section report (staff)", route("attendance-report-section", pk=section.pk),
                         f"section {section} over its whole history, one row per student")
    add("section report (staff)", section_report)

    def export() -> Scenario:
        import datetime as dt

        today = dt.date.today()
        path = f"{route('attendance-export')}?date_from={today - dt.timedelta(days=365)}&date_to={today}"
        return staff_get("CSV export, first byte (staff)", path, "a year of every record; hangs up after "
                         "the first bytes", first_byte=True)
    add("CSV export, first byte (staff)", export)

    def dashboard(cached: bool) -> Scenario:
        path = route("dashboard-summary")
        name = "dashboard summary (cached)" if cached else "dashboard summary (uncached)"
        return Scenario(name, url if cached else uncached_url,
                        [Request("GET", path, bearer(actors.staff_access))] * (n if cached else max(100, n // 4)),
                        c, cap, note="" if cached else "second server with ATTENDANCE_DASHBOARD_CACHE_SECONDS=0")
    add("dashboard summary (cached)", lambda: dashboard(True))
    add("dashboard summary (uncached)", lambda: dashboard(False))

    def frames() -> Scenario:
        if not actors.device_credential or actors.camera_id is None:
            raise NotAvailable("no device credential / camera: " + "; ".join(actors.notes))
        path = route("camera-frames", pk=actors.camera_id)  # DRF @action url_name "frames"
        count = max(100, n // 4)
        headers = {"Authorization": f"Device {actors.device_credential}"}
        return Scenario("frame push (device)", url,
                        [Request("POST", path, headers, files={"image": ("frame.jpg", body, "image/jpeg")})
                         for body in frame_bodies(count + 10)],
                        c, cap, single_use=True, note="accepted and queued; processing is async")
    add("frame push (device)", frames)

    def heartbeat() -> Scenario:
        if not actors.device_credential:
            raise NotAvailable("no device credential: " + "; ".join(actors.notes))
        path = route("device-heartbeat")
        headers = {"Authorization": f"Device {actors.device_credential}"}
        body = {"uptime_seconds": 1234, "cpu_percent": 12.5, "memory_percent": 40.1, "disk_percent": 55.0,
                "temperature_c": 48.0, "status": {"camera": "ok"}}
        return Scenario("device heartbeat", url, [Request("POST", path, headers, json=body)] * n, c, cap)
    add("device heartbeat", heartbeat)

    # Ping once more at the end: the ceiling is measured under the same conditions.
    return plan, missing


def purge_frame_queue() -> None:
    """Drops the frame tasks the push scenario queued (no worker runs during the bench)."""
    from config.celery import app

    with contextlib.suppress(Exception), app.connection_for_write() as conn:
        purged = conn.default_channel.queue_purge("frames")
        print(f"purged {purged} queued frame tasks", flush=True)


# --- Reporting -----------------------------------------------------------------------------

def table(results: list[Result]) -> str:
    rows = ["| endpoint | requests | RPS | p50 ms | p95 ms | p99 ms | x ping | non-2xx | note |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in results:
        if not r.available:
            rows.append(f"| {r.name} | - | not available | | | | | | {r.note} |")
            continue
        ratio = f"{r.ratio_to_ping:.2f}" if r.ratio_to_ping is not None else ""
        bad = ", ".join(f"{k}: {v}" for k, v in sorted(not_2xx(r.statuses).items()))
        rows.append(f"| {r.name} | {r.requests} | {r.rps:.0f} | {r.p50_ms:.1f} | {r.p95_ms:.1f} | {r.p99_ms:.1f} "
                    f"| {ratio} | {r.errors}{' (' + bad + ')' if bad else ''} | {r.note} |")
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=1_000_000, help="attendance records to reach at least")
    parser.add_argument("--sightings", type=int, default=None, help="face sightings to reach (default: --rows)")
    parser.add_argument("--requests", type=int, default=2000, help="requests per endpoint (fewer for slow ones)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--time-cap", type=float, default=30.0, help="seconds per endpoint at most")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    parser.add_argument("--skip-seed", action="store_true")
    parser.add_argument("--debug", action="store_true", help="serve with DEBUG=1 (default: production settings)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run for CI: a small campus in a scratch database made and dropped here; "
                             "exits non-zero if any scenario errors or is missing (speed is not judged)")
    parser.add_argument("--out", default=str(OUT_DIR / "results.json"))
    parser.add_argument("--load-plan", help=argparse.SUPPRESS)
    parser.add_argument("--load-results", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.load_plan:
        return load_main(args.load_plan, args.load_results)
    for name in ("DATABASE_URL", "REDIS_URL"):
        if not os.environ.get(name):
            raise SystemExit(f"{name} must be set (PostgreSQL and Redis of your own)")
    if not args.quick:
        return run(args)
    args.students, args.rows = min(args.students, 300), min(args.rows, 20_000)
    args.requests, args.time_cap, args.skip_seed = min(args.requests, 100), min(args.time_cap, 10), False
    with scratch_database(os.environ["DATABASE_URL"]) as url:
        os.environ["DATABASE_URL"] = url
        return run(args)


@contextlib.contextmanager
def scratch_database(url: str, suffix: str = "bench_quick"):
    """A fresh database named after DATABASE_URL's (`<name>_<suffix>`), dropped afterwards."""
    import dj_database_url
    import psycopg

    db = dj_database_url.parse(url)
    name = f"{db['NAME']}_{suffix}"
    server = {"host": db["HOST"] or "127.0.0.1", "port": db["PORT"] or 5432, "user": db["USER"],
              "password": db["PASSWORD"] or None, "dbname": "postgres", "autocommit": True}

    def drop() -> None:
        with psycopg.connect(**server) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    drop()
    with psycopg.connect(**server) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    print(f"scratch database {name}", flush=True)
    try:
        yield urlsplit(url)._replace(path=f"/{name}").geturl()
    finally:
        from django.db import connections

        connections.close_all()
        drop()
        print(f"scratch database {name} dropped", flush=True)


def run(args) -> int:
    os.environ.setdefault("DEBUG", "1")
    # The server runs with production settings (DEBUG off); this process signs the
    # bench users' tokens, so both share the keys. FACE_ENCRYPTION_KEY keeps the
    # development default unless set, so data encrypted earlier stays readable.
    import secrets

    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(48))
    os.environ.setdefault("JWT_SIGNING_KEY", secrets.token_urlsafe(48))
    os.environ.setdefault("FACE_ENCRYPTION_KEY", "ZGV2LW9ubHktZmFjZS1rZXktMzItYnl0ZXMtbG9uZyE=")
    # The bench users' access tokens are made once, before the load: they must outlast
    # a run on a busy machine (the default 5 minutes did not: 401s late in the run).
    os.environ.setdefault("JWT_ACCESS_MINUTES", "180")
    env = dict(os.environ)
    sys.path.insert(0, str(BASE_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

    notes: list[str] = []
    if not args.skip_seed:
        print("seeding ...", flush=True)
        notes.append(seed(args.students, env))
        print("  " + notes[-1], flush=True)

    import django

    django.setup()
    try:
        notes.append(generate_attendance(args.rows))
    except NotAvailable as exc:
        notes.append(f"attendance rows not generated: {exc}")
    print("  " + notes[-1], flush=True)
    try:
        notes.append(generate_sightings(args.rows if args.sightings is None else args.sightings))
    except NotAvailable as exc:
        notes.append(f"face sightings not generated: {exc}")
    print("  " + notes[-1], flush=True)
    actors = make_actors()
    notes.extend(actors.notes)

    serve_env = {
        **env,
        "DEBUG": "1" if args.debug else "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "LOG_LEVEL": "WARNING",
        "LOG_FORMAT": "json",
        # Production refuses to start without a chosen e-mail backend; the bench sends no mail.
        "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
        # The bench measures the endpoints, not the abuse limits in front of them.
        "ACCOUNTS_LOGIN_RATE_PER_IP": "1000000/m",
        "ACCOUNTS_LOGIN_RATE_PER_USERNAME": "1000000/m",
        "ACCOUNTS_ANONYMOUS_RATE": "1000000/m",
        "DEVICE_HEARTBEAT_MAX_PER_MINUTE": "1000000",
        "FRAME_PUSH_PER_MINUTE": "0",
        "DB_POOL_MAX": str(max(4, args.threads + 2)),
    }
    logs = Path(tempfile.mkdtemp(prefix="bench-"))
    load_before = os.getloadavg()[0]
    from django.db import connection

    connection.close()
    with Gunicorn(serve_env, args.workers, args.threads, logs / "gunicorn.log") as server, \
            Gunicorn({**serve_env, "ATTENDANCE_DASHBOARD_CACHE_SECONDS": "0"}, args.workers, args.threads,
                     logs / "gunicorn-uncached.log") as uncached:
        plan, missing = build_plan(args, actors, server.base_url, uncached.base_url)
        connection.close()
        plan.append(Scenario("ping (again, at the end)", server.base_url,
                             [Request("GET", "/api/v1/ping")] * args.requests, args.concurrency, args.time_cap))
        plan_file, results_file = logs / "plan.pickle", logs / "results.json"
        with plan_file.open("wb") as fh:
            pickle.dump(plan, fh)
        print(f"load: {len(plan)} scenarios against {server.base_url}", flush=True)
        done = subprocess.run(
            [sys.executable, __file__, "--load-plan", str(plan_file), "--load-results", str(results_file)],
            cwd=BASE_DIR, env=env, timeout=len(plan) * (args.time_cap + 60), check=False,
        )
        if done.returncode:
            raise SystemExit("the load generator failed")
    purge_frame_queue()
    measured = [Result(**item) for item in json.loads(results_file.read_text())]
    pings = [r.rps for r in measured if r.name.startswith("ping")]
    ceiling = statistics.mean(pings) if pings else 0
    for r in measured:
        r.ratio_to_ping = round(r.rps / ceiling, 3) if ceiling else None
    order = {s.name: i for i, s in enumerate(plan)}
    results = sorted(measured, key=lambda r: order.get(r.name, 99)) + missing

    from django.db import connection as conn

    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM attendance_attendancerecord")
        record_count = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM campus_student")
        student_count = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM cameras_facesighting")
        sighting_count = cur.fetchone()[0]
    meta = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        # The machine is shared: its load says how far these figures are from an idle box.
        "load average (1 min) before / after": f"{load_before:.1f} / {os.getloadavg()[0]:.1f}",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "server": f"gunicorn {args.workers} workers x {args.threads} threads, 127.0.0.1, "
                  f"DEBUG={serve_env['DEBUG']}",
        "load": f"httpx asyncio in a second process, concurrency {args.concurrency}, "
                f"<= {args.requests} requests and <= {args.time_cap:.0f}s per endpoint",
        "data": f"{student_count:,} students, {record_count:,} attendance records, {sighting_count:,} face sightings",
        "notes": notes,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "results": [asdict(r) for r in results]}, indent=2))
    print()
    for key, value in meta.items():
        print(f"{key}: {value}")
    print()
    print(table(results))
    print(f"\nwritten to {out}")
    failed = [r for r in results if not r.available or r.errors]
    if failed:
        print("\nscenarios that errored or are missing: " + "; ".join(
            f"{r.name} ({r.note if not r.available else r.statuses})" for r in failed))
    # The quick run is CI's smoke check: every scenario must answer, however slowly.
    return 1 if args.quick and failed else 0


def run_script(main: Callable[[], int]) -> NoReturn:
    """A bench's way out: main's status, 130 on Ctrl-C, 1 with the traceback on a crash (bench_fleet's too)."""
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
    except SystemExit:
        raise
    except Exception:
        traceback.print_exc()
        sys.exit(1)


if __name__ == "__main__":
    run_script(main)
