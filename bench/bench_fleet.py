"""Fleet benchmark: N push cameras through gunicorn and K Celery frame workers, as a campus runs them.

    .venv/bin/python bench/bench_fleet.py                      # the curve: N = 2, 4, 8, ... until it breaks
    .venv/bin/python bench/bench_fleet.py --cameras 4,8 --workers 2
    .venv/bin/python bench/bench_fleet.py --quick              # CI's smoke run: small N, short steps

Everything goes the real way: each simulated camera is a registered device
(devices' own services) that POSTs a JPEG to `/api/v1/cameras/<id>/frames`
every `--interval` seconds (2 s by default) with its `Device` credential;
gunicorn (2 workers x 4 threads, production settings) runs intake (motion gate,
store, enqueue); `celery -A config worker -Q frames --concurrency K` claims and
processes each frame (decode, detect, track, embed, match, attendance.services).

Frames are what a campus's cameras send: most cameras look at a static scene
(an empty corridor, a lab: sensor noise only), some at a door where a person
walks in now and then, some at a classroom with its students seated (faces that
move a little from frame to frame). Two students with enrolled faces (the test
fixtures' photos) are enrolled in every camera's open class session.

For each N in turn (`--step-seconds` each) it reports: frames pushed, pushes
answered non-2xx, frames queued (accepted past the motion gate) and skipped,
push-to-record latency (the push sent until the frame's `processed_at`: its
sightings and attendance records are committed then) p50/p95/max over the
queued frames, and the backlog (frames pending or processing in the database,
sampled every second) with its growth over the step. Before the first step, a
few frames warm the worker up (it loads the face engine on its first frame). A step is **sustained**
when p95 <= 3 s (`--max-p95`), every queued frame was processed and the backlog
is bounded: it does not grow (`--max-growth`), or it never held more than 3 s of
arrivals. Between steps the backlog is drained. The knee is the largest
sustained N; the cameras per worker core are N / K there.

It uses a scratch database `<DATABASE_URL's name>_fleet` (made and dropped
here) and the Redis of REDIS_URL (broker and cache), loopback only.
`--quick` runs N = 2 and 4 for 15 s each (every scene kind among them) and exits 1 if anything errored (a
push not 2xx, a frame failed or left unprocessed, a process that died); it does
not judge speed.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_api import (
    BASE_DIR,
    VENV_BIN,
    Gunicorn,
    check_loopback,
    manage,
    run_script,
    scratch_database,
)
from config.percentiles import not_2xx, percentile, percentiles
from config.processes import stop_process

FACES = BASE_DIR / "cameras/tests/fixtures/faces"
OUT = BASE_DIR / "bench" / "out" / "fleet.json"
# Who is enrolled (name -> photo); the other photos are the same people from other shots.
ENROL = {"Obama": "obama.jpg", "Biden": "biden.jpg"}
PROFILES = ("static", "entering", "classroom")


# --- Frames ---------------------------------------------------------------------------------

def _background(seed: int):
    """A camera's fixed scene: walls, a floor, a door, furniture (flat shapes; every camera its own)."""
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    image = Image.new("RGB", (640, 480), tuple(rng.randint(150, 200) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 330, 640, 480), fill=tuple(rng.randint(70, 120) for _ in range(3)))
    for _ in range(6):
        x, y = rng.randint(0, 560), rng.randint(150, 400)
        draw.rectangle((x, y, x + rng.randint(40, 140), y + rng.randint(20, 80)),
                       fill=tuple(rng.randint(20, 230) for _ in range(3)))
    draw.rectangle((500, 90, 600, 330), fill=(110, 80, 50))  # the door
    return image


_FACE_CHIPS: list = []


def _faces() -> list:
    """Head-and-shoulders chips of the fixture photos, the face ~90 px wide (a seated student at a
    classroom camera's distance; the detector's minimum is FACE_MIN_SIZE_PX, 64)."""
    import numpy as np
    from PIL import Image

    from cameras.engine import detect_faces

    if _FACE_CHIPS:
        return _FACE_CHIPS
    for name in ("obama.jpg", "biden.jpg", "obama2.jpg", "obama_480p.jpg"):
        photo = Image.open(FACES / name).convert("RGB")
        box = detect_faces(np.asarray(photo))[0].box
        side = box.right - box.left
        margin = int(side * 0.45)
        chip = photo.crop((max(0, box.left - margin), max(0, box.top - margin),
                           min(photo.width, box.right + margin), min(photo.height, box.bottom + margin * 2)))
        scale = 90 / side
        _FACE_CHIPS.append(chip.resize((int(chip.width * scale), int(chip.height * scale))))
    return _FACE_CHIPS


def _jpeg(image, rng: random.Random) -> bytes:
    """The image as a camera sends it: a little sensor noise, JPEG quality 80."""
    import numpy as np
    from PIL import Image

    pixels = np.asarray(image, dtype=np.int16)
    noise = np.random.default_rng(rng.randint(0, 2**31)).normal(0, 2.0, pixels.shape).astype(np.int16)
    noisy = Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8))
    buffer = io.BytesIO()
    noisy.save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


def unique(data: bytes, index: int) -> bytes:
    """The same picture as new bytes (a JPEG comment with a counter): a sensor never sends one frame twice."""
    comment = f"fleet frame {index}".encode()
    return data[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + data[2:]


def camera_stream(profile: str, seed: int, count: int) -> list[bytes]:
    """`count` frames of one camera, in order (a cycle of them; `unique` makes each push new bytes).

    static: the scene with noise. entering: the scene, and every ~30 s (15 frames) a
    person walking in from the door over four frames. classroom: four seated students
    who shift a few pixels each frame.
    """
    rng = random.Random(seed)
    scene, faces = _background(seed), _faces()
    frames = []
    for i in range(count):
        image = scene.copy()
        if profile == "entering":
            step = i % 15
            if step < 4:
                face = faces[(i // 15) % len(faces)]
                image.paste(face, (420 - 110 * step, 100 + 10 * step))
        elif profile == "classroom":
            for seat, face in enumerate(faces):
                dx, dy = rng.randint(-4, 4), rng.randint(-3, 3)
                image.paste(face, (10 + seat * 158 + dx, 120 + (seat % 2) * 30 + dy))
        frames.append(_jpeg(image, rng))
    return frames


def mix(spec: str) -> dict[str, float]:
    shares = {}
    for part in spec.split(","):
        name, _, share = part.partition("=")
        if name not in PROFILES:
            raise SystemExit(f"--mix: unknown profile {name!r} (one of {', '.join(PROFILES)})")
        shares[name] = float(share)
    total = sum(shares.values())
    return {name: share / total for name, share in shares.items()}


def profiles_for(n: int, shares: dict[str, float]) -> list[str]:
    """N cameras split by the shares (largest remainder), the same split at every N."""
    counts = {name: int(n * share) for name, share in shares.items()}
    rest = sorted(shares, key=lambda name: n * shares[name] - counts[name], reverse=True)
    for name in rest[: n - sum(counts.values())]:
        counts[name] += 1
    # Interleaved (static, entering, classroom, static, ...), so that the first cameras are already a mix.
    ranked = [(rank, PROFILES.index(name), name) for name in PROFILES for rank in range(counts.get(name, 0))]
    return [name for _, _, name in sorted(ranked)]


# --- The campus -------------------------------------------------------------------------------

@dataclass
class FleetCamera:
    id: int
    credential: str
    profile: str = "static"


def make_fleet(count: int) -> list[FleetCamera]:
    """An admin, two students with enrolled faces, and `count` rooms, each with an open class session
    (both students enrolled) and a push camera bound to its own registered device."""
    import datetime as dt

    from django.utils import timezone

    from accounts.services import create_user
    from attendance.choices import SessionStatus
    from attendance.models import ClassSession
    from cameras.services import create_camera, enrol_face
    from campus.models import Building, Course, Department, Enrolment, Room, Section, Student, Term
    from devices.services import create_registration_token, register_device

    now = timezone.now()
    today = timezone.localdate(now)
    admin = create_user(username="fleet-admin", email="fleet-admin@bench.test", password="Fleet-Bench-2026-!x",
                        role="admin")
    building = Building.objects.create(code="FLEET", name="Fleet")
    department = Department.objects.create(code="FLEET", name="Fleet")
    course = Course.objects.create(code="FLEET", title="Fleet", department=department)
    term = Term.objects.create(name="Fleet term", start_date=today - dt.timedelta(days=60),
                               end_date=today + dt.timedelta(days=60))
    students = []
    for name, photo in ENROL.items():
        student = Student.objects.create(student_number=f"fleet-{name}", first_name=name, last_name="Fleet",
                                         face_consent_at=now)
        enrol_face(student=student, image_bytes=(FACES / photo).read_bytes(), via="bench")
        students.append(student)
    cameras = []
    for i in range(count):
        room = Room.objects.create(building=building, code=f"F{i:03d}", name=f"Fleet room {i}", capacity=40)
        section = Section.objects.create(course=course, term=term, code=f"S{i:03d}")
        for student in students:
            Enrolment.objects.create(section=section, student=student, enrolled_on=today - dt.timedelta(days=30))
        ClassSession.objects.create(
            section=section, room=room, date=today, scheduled_start=now - dt.timedelta(minutes=10),
            scheduled_end=now + dt.timedelta(hours=6), status=SessionStatus.OPEN, opened_at=now,
        )
        _, token = create_registration_token(actor=admin, label=f"fleet {i}", room=room)
        registration = register_device(token=token, serial=f"fleet-edge-{i:03d}", name=f"Fleet edge {i}")
        camera = create_camera(actor=admin, name=f"fleet-{i:03d}", room=room, source_kind="push",
                               device=registration.device)
        cameras.append(FleetCamera(id=camera.pk, credential=registration.credential))
    return cameras


# --- Processes --------------------------------------------------------------------------------

class FrameWorkers:
    """`celery -A config worker -Q frames --concurrency K` (prefork), as the Procfile's worker-frames."""

    def __init__(self, env: dict[str, str], concurrency: int, log: Path):
        self.env, self.concurrency, self.log = env, concurrency, log
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> FrameWorkers:
        from config.celery import app

        name = f"fleet-frames-{os.getpid()}@{socket.gethostname()}"
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(VENV_BIN / "celery"), "-A", "config", "worker", "-Q", "frames", "-n",
                 name, "--concurrency", str(self.concurrency), "--pool", "prefork",
                 "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"],
                cwd=BASE_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"the Celery worker exited; see {self.log}")
            # The worker answers a broadcast ping once it consumes (its log level may hide "ready").
            if app.control.ping(destination=[name], timeout=1.0):
                return self
        self.__exit__()
        raise SystemExit(f"the Celery worker did not become ready; see {self.log}")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def __exit__(self, *exc) -> None:
        if self.process is not None:
            stop_process(self.process, timeout=30, group=True)


# --- One step: N cameras for a while ----------------------------------------------------------

@dataclass
class Pushes:
    """A step's frame pushes and the server's answers to them, by HTTP status (or a transport error's name)."""

    pushed: int = 0
    non_2xx: int = 0
    statuses: dict[str, int] = field(default_factory=dict)


@dataclass
class FrameFates:
    """What became of a step's frames: queued past the motion gate or skipped at intake, then the queued
    ones processed, failed, or still waiting after the drain."""

    queued: int = 0
    skipped: int = 0
    processed: int = 0
    failed: int = 0
    unprocessed: int = 0


@dataclass
class RecordLatency:
    """Push-to-record seconds (the push sent until the frame's `processed_at`) over the processed frames."""

    p50_s: float = 0.0
    p95_s: float = 0.0
    max_s: float = 0.0


@dataclass
class Step:
    cameras: int
    workers: int
    seconds: float = 0.0
    pushes: Pushes = field(default_factory=Pushes)
    frames: FrameFates = field(default_factory=FrameFates)
    push_p95_ms: float = 0.0
    latency: RecordLatency = field(default_factory=RecordLatency)
    backlog_max: int = 0
    backlog_growth: float = 0.0
    faces_detected: int = 0
    sustained: bool = False
    load_average: str = ""

    def as_json(self) -> dict:
        """One flat object, as fleet.json and the step lines have always had it: the groups' figures in their place."""
        flat: dict = {}
        for name, value in asdict(self).items():
            if is_dataclass(getattr(self, name)):
                flat.update(value)
            else:
                flat[name] = value
        return flat


def backlog() -> int:
    """Frames waiting for or in a worker, in the database (the broker's queue plus what workers hold)."""
    from cameras.choices import FrameState
    from cameras.models import Frame

    return Frame.objects.filter(state__in=[FrameState.PENDING, FrameState.PROCESSING]).count()


async def push_all(base_url: str, cameras: list[FleetCamera], streams: dict[int, list[bytes]], offset: int,
                   seconds: float, interval: float) -> tuple[list[dict], float]:
    """Every camera pushes a frame each `interval` s (phases spread), for `seconds`. Returns the pushes."""
    import httpx

    check_loopback(base_url)
    pushes: list[dict] = []
    limits = httpx.Limits(max_connections=len(cameras) + 4, max_keepalive_connections=len(cameras) + 4)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as client:
        started = time.monotonic()

        async def camera_loop(index: int, camera: FleetCamera) -> None:
            stream = streams[camera.id]
            await asyncio.sleep(interval * index / len(cameras))
            tick = 0
            while True:
                due = started + interval * index / len(cameras) + tick * interval
                if due - started >= seconds:
                    return
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                body = unique(stream[(offset + tick) % len(stream)], offset + tick)
                sent = time.time()
                try:
                    response = await client.post(
                        f"/api/v1/cameras/{camera.id}/frames",
                        headers={"Authorization": f"Device {camera.credential}"},
                        files={"image": ("frame.jpg", body, "image/jpeg")},
                    )
                    status, payload = str(response.status_code), response.json()
                except (httpx.HTTPError, ValueError) as exc:
                    status, payload = type(exc).__name__, {}
                pushes.append({"camera": camera.id, "sent": sent, "answered": time.time(), "status": status,
                               "frame": (payload.get("frame") if isinstance(payload, dict) else None),
                               "duplicate": bool(payload.get("duplicate")) if isinstance(payload, dict) else False})
                tick += 1

        await asyncio.gather(*(camera_loop(i, camera) for i, camera in enumerate(cameras)))
        elapsed = time.monotonic() - started
    return pushes, elapsed


def warm_up(base_url: str, camera: FleetCamera, workers: FrameWorkers, args) -> None:
    """A few frames with faces through the whole path, drained before any step: the worker loads
    the face engine and the gallery on its first frame (seconds), which no step should measure."""
    warm = {camera.id: camera_stream("classroom", 0, 3)}
    asyncio.run(push_all(base_url, [camera], warm, 10_000, 3 * args.interval, args.interval))
    deadline = time.monotonic() + args.drain_seconds
    while backlog() and time.monotonic() < deadline and workers.alive():
        time.sleep(1)


def _frame_id(value) -> int | None:
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, int) else None


def run_step(base_url: str, workers: FrameWorkers, cameras: list[FleetCamera], streams: dict[int, list[bytes]],
             args, offset: int) -> Step:
    from django.db import connection

    from cameras.choices import FrameState
    from cameras.models import Frame

    step = Step(cameras=len(cameras), workers=args.workers)
    samples: list[tuple[float, int]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append((time.monotonic(), backlog()))
            stop.wait(1.0)
        connection.close()

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    pushes, step.seconds = asyncio.run(push_all(base_url, cameras, streams, offset, args.step_seconds,
                                                args.interval))
    stop.set()
    sampler.join()
    # Drain: the next step starts from an empty queue; what is still waiting then counts as unprocessed.
    deadline = time.monotonic() + args.drain_seconds
    while backlog() and time.monotonic() < deadline and workers.alive():
        time.sleep(1)

    statuses = Counter(p["status"] for p in pushes)
    step.pushes = Pushes(pushed=len(pushes), non_2xx=sum(not_2xx(statuses).values()), statuses=dict(statuses))
    step.push_p95_ms = round(percentile(((p["answered"] - p["sent"]) * 1000 for p in pushes), 0.95), 1)
    queued = {_frame_id(p["frame"]): p["sent"] for p in pushes
              if p["status"] == "202" and not p["duplicate"] and _frame_id(p["frame"]) is not None}
    frames = step.frames
    frames.queued, frames.skipped = len(queued), sum(1 for p in pushes if p["status"] == "200")
    rows = Frame.objects.filter(pk__in=list(queued)).values_list("pk", "state", "processed_at", "faces_detected")
    latencies = []
    for pk, state, processed_at, faces in rows:
        step.faces_detected += faces or 0
        if state == FrameState.FAILED:
            frames.failed += 1
        elif processed_at is not None and state not in (FrameState.PENDING, FrameState.PROCESSING):
            frames.processed += 1
            latencies.append(processed_at.timestamp() - queued[pk])
    frames.unprocessed = frames.queued - frames.processed - frames.failed
    if latencies:
        p50_s, p95_s = percentiles(latencies, (0.5, 0.95), digits=2)
        step.latency = RecordLatency(p50_s=p50_s, p95_s=p95_s, max_s=round(max(latencies), 2))
    step.backlog_max = max((n for _, n in samples), default=0)
    step.backlog_growth = round(_growth(samples), 3)
    step.sustained = is_sustained(step, args)
    step.load_average = "/".join(f"{x:.1f}" for x in os.getloadavg())
    return step


def is_sustained(step: Step, args) -> bool:
    """p95 within the bound, nothing failed or left over, and a bounded backlog: one that does not
    grow, or that never held more than the frames of `--max-p95` seconds (a regression slope over a
    backlog of 0-2 frames is noise)."""
    frames = step.frames
    within = frames.queued / step.seconds * args.max_p95 if step.seconds else 0.0
    bounded = step.backlog_growth <= args.max_growth or step.backlog_max <= within
    return (frames.processed > 0 and step.latency.p95_s <= args.max_p95 and bounded and frames.unprocessed == 0
            and step.pushes.non_2xx == 0 and frames.failed == 0)


def _growth(samples: list[tuple[float, int]]) -> float:
    """Backlog growth, frames per second, over the step's second half (least squares); 0 if flat."""
    half = samples[len(samples) // 2:]
    if len(half) < 3:
        return 0.0
    xs, ys = [t for t, _ in half], [n for _, n in half]
    mx, my = statistics.mean(xs), statistics.mean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else 0.0


# --- Reporting ------------------------------------------------------------------------------------

def table(steps: list[Step]) -> str:
    rows = ["| cameras | frames/s offered | pushed | non-2xx | queued | skipped at intake | processed "
            "| faces seen | p50 s | p95 s | max s | backlog max | backlog growth /s | cameras per worker core "
            "| sustained | load |",
            "|" + " ---: |" * 14 + " --- | --- |"]
    for s in steps:
        pushes, fates, latency = s.pushes, s.frames, s.latency
        offered = pushes.pushed / s.seconds if s.seconds else 0
        left = f" ({fates.failed} failed, {fates.unprocessed} left)" if fates.failed or fates.unprocessed else ""
        rows.append(
            f"| {s.cameras} | {offered:.1f} | {pushes.pushed} | {pushes.non_2xx} | {fates.queued} | {fates.skipped} "
            f"| {fates.processed}{left} "
            f"| {s.faces_detected} | {latency.p50_s:.2f} | {latency.p95_s:.2f} | {latency.max_s:.2f} | {s.backlog_max} "
            f"| {s.backlog_growth:+.2f} "
            f"| {s.cameras / s.workers:.1f} | {'yes' if s.sustained else 'no'} | {s.load_average} |"
        )
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cameras", default="2,4,8,12,16,24,32,48,64",
                        help="the N of each step, in order (comma-separated)")
    parser.add_argument("--workers", type=int, default=1, help="Celery frame worker processes (K, one core each)")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between a camera's frames")
    parser.add_argument("--step-seconds", type=float, default=60.0, help="how long each step's cameras push")
    parser.add_argument("--drain-seconds", type=float, default=90.0,
                        help="after a step, how long the backlog may take to empty (what is left counts unprocessed)")
    parser.add_argument("--mix", default="static=0.6,entering=0.3,classroom=0.1",
                        help="share of cameras per scene profile")
    parser.add_argument("--max-p95", type=float, default=3.0, help="seconds, push to record")
    parser.add_argument("--max-growth", type=float, default=0.05, help="backlog growth (frames/s) still bounded")
    parser.add_argument("--failures-to-stop", type=int, default=2, help="stop after this many unsustained steps")
    parser.add_argument("--gunicorn-workers", type=int, default=2)
    parser.add_argument("--gunicorn-threads", type=int, default=4)
    parser.add_argument("--quick", action="store_true",
                        help="CI's smoke run: N = 2, 4 for 15 s each; exits 1 if anything errored (speed not judged)")
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args()
    for name in ("DATABASE_URL", "REDIS_URL"):
        if not os.environ.get(name):
            raise SystemExit(f"{name} must be set (PostgreSQL and Redis of your own)")
    if args.quick:
        args.cameras, args.step_seconds, args.drain_seconds, args.failures_to_stop = "2,4", 15.0, 120.0, 99
        # Every scene kind among four cameras, so every path (static, a face, a class) runs.
        args.mix = "static=0.5,entering=0.25,classroom=0.25"
    try:
        sizes = [int(n) for n in args.cameras.split(",")]
    except ValueError:
        raise SystemExit("--cameras: comma-separated whole numbers") from None
    if not sizes or min(sizes) < 1 or args.workers < 1 or args.interval <= 0:
        raise SystemExit("--cameras, --workers and --interval must be positive")
    shares = mix(args.mix)
    with scratch_database(os.environ["DATABASE_URL"], suffix="fleet") as url:
        os.environ["DATABASE_URL"] = url
        return run(args, sizes, shares)


def run(args, sizes: list[int], shares: dict[str, float]) -> int:
    import secrets

    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(48))
    os.environ.setdefault("JWT_SIGNING_KEY", secrets.token_urlsafe(48))
    os.environ.setdefault("FACE_ENCRYPTION_KEY", "ZGV2LW9ubHktZmFjZS1rZXktMzItYnl0ZXMtbG9uZyE=")
    var_dir = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    # Stored frames, logs and the like go to a scratch folder, not the checkout's var/.
    os.environ["VAR_DIR"] = str(var_dir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    env = dict(os.environ)
    done = manage("migrate", "--noinput", "-v0", env=env)
    if done.returncode:
        raise SystemExit(f"migrate failed:\n{done.stderr[-3000:]}")

    import logging

    import django

    django.setup()
    from django.db import connection

    # One line per request or audit event would bury the steps' summaries.
    for noisy in ("httpx", "campus.audit", "cameras.recognition"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    print("campus: rooms, sessions, devices and cameras ...", flush=True)
    fleet = make_fleet(max(sizes))
    profiles = profiles_for(max(sizes), shares)
    for camera, profile in zip(fleet, profiles, strict=True):
        camera.profile = profile
    frames_per_step = int(args.step_seconds / args.interval) + 2
    # Two entering cycles (15 frames each) per camera; the pushes walk through them step after step.
    streams = {c.id: camera_stream(c.profile, c.id, 30) for c in fleet}
    connection.close()

    serve_env = {
        **env,
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "LOG_LEVEL": "WARNING",
        "LOG_FORMAT": "json",
        "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
        "CELERY_METRICS_PORT": "0",
    }
    serve_env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    logs = var_dir / "logs"
    logs.mkdir()
    steps: list[Step] = []
    misses = 0
    load_before = os.getloadavg()[0]
    with Gunicorn(serve_env, args.gunicorn_workers, args.gunicorn_threads, logs / "gunicorn.log") as server, \
            FrameWorkers(serve_env, args.workers, logs / "celery.log") as workers:
        warm_up(server.base_url, fleet[0], workers, args)
        for index, n in enumerate(sizes):
            cameras = fleet[:n]
            kinds = {p: sum(1 for c in cameras if c.profile == p) for p in PROFILES}
            print(f"step: {n} cameras ({', '.join(f'{v} {k}' for k, v in kinds.items())}), "
                  f"{args.workers} worker(s), {args.step_seconds:.0f}s", flush=True)
            step = run_step(server.base_url, workers, cameras, streams, args, offset=index * frames_per_step)
            steps.append(step)
            print("  " + json.dumps({k: v for k, v in step.as_json().items() if k != "statuses"}), flush=True)
            if not workers.alive():
                print("the Celery worker died; see " + str(logs / "celery.log"), flush=True)
                break
            misses = 0 if step.sustained else misses + 1
            if misses >= args.failures_to_stop:
                break
        worker_alive = workers.alive()
    connection.close()

    knee = max((s for s in steps if s.sustained), key=lambda s: s.cameras, default=None)
    meta = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "load average (1 min) before / after": f"{load_before:.1f} / {os.getloadavg()[0]:.1f}",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "server": f"gunicorn {args.gunicorn_workers} workers x {args.gunicorn_threads} threads, DEBUG=0; "
                  f"celery -Q frames --concurrency {args.workers} (prefork)",
        "cameras": f"one frame per {args.interval:g} s each; mix {args.mix}; {args.step_seconds:.0f} s per step",
        "sustained": f"p95 push-to-record <= {args.max_p95:g} s, backlog growth <= {args.max_growth:g} frames/s "
                     f"or backlog never above {args.max_p95:g} s of arrivals, every queued frame processed, no errors",
        "knee": (f"{knee.cameras} cameras on {args.workers} worker(s): {knee.cameras / args.workers:.1f} cameras "
                 f"per worker core" if knee else "no step was sustained"),
        "logs": str(logs),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "steps": [s.as_json() for s in steps]}, indent=2))
    print()
    for key, value in meta.items():
        print(f"{key}: {value}")
    print()
    print(table(steps))
    print(f"\nwritten to {out}")
    errors = [f"{s.cameras} cameras: {s.pushes.non_2xx} pushes non-2xx {s.pushes.statuses}, {s.frames.failed} failed, "
              f"{s.frames.unprocessed} unprocessed"
              for s in steps if s.pushes.non_2xx or s.frames.failed or s.frames.unprocessed]
    if not worker_alive:
        errors.append("the Celery worker died")
    if len(steps) < len(sizes) and args.quick:
        errors.append("not every step ran")
    if errors:
        print("\nerrors: " + "; ".join(errors))
    # The quick run is CI's smoke check: everything must work, however slowly.
    return 1 if args.quick and errors else 0


if __name__ == "__main__":
    run_script(main)
