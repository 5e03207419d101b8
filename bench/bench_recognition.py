"""Recognition quality on your own photos (and a video), through the product's real path only.

    .venv/bin/python bench/bench_recognition.py [--train DIR] [--test DIR] [--video FILE --expect NAME[,NAME]]
    .venv/bin/python bench/bench_recognition.py --quick     # the project's own fixtures (CI)

--train DIR  one sub-folder of JPEG/PNG photos per person, named after the person
             (DIR/anna/1.jpg), or flat files named <person>.jpg or <person>_<n>.jpg.
--test DIR   JPEG/PNG photos whose file names list who is in them, joined by "+", with
             "unknown" for anyone never enrolled: anna+ben+unknown.jpg (a suffix _<n>
             tells apart several photos of the same people: anna_2.jpg).
--video FILE a video replayed with ingest_video at the camera's interval; --expect names
             who should be marked from it.

Without --train/--test it runs on ../shared/faces (Obama enrolled from obama.jpg, his
other shots as test photos, Biden as the stranger) and a talk-like video built from the
fixtures (`cameras.tests.videos.build_talk_video`). --quick uses only the project's own
fixtures (cameras/tests/fixtures/faces) and a shorter video, so CI can run it.

The path is the product's: a fresh database (DATABASE_URL's name + "_bench_recognition",
migrated, dropped at the end), students given consent and enrolled through the API,
a push camera created through the API in a room with an open session, each test photo
pushed to `POST cameras/{id}/frames`, and a real Celery worker (started here, on the
`frames` queue of REDIS_URL) processing them. The video goes through `ingest_video`'s
replay. Prints a table per photo and the totals: correct, wrong student, missed, and
strangers kept unknown; for the video who was marked and how, and frames/s beside the
bare engine. Exits non-zero on any wrong student or an expected person not marked.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from config.processes import stop_process  # noqa: E402 - after the environment and path set above

SHARED = ROOT.parent / "shared" / "faces"
FIXTURES = ROOT / "cameras" / "tests" / "fixtures" / "faces"
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png"}
UNKNOWN = "unknown"


# --- Data sets ------------------------------------------------------------------------------


def person_of(stem: str) -> str:
    """`anna_2` -> `anna`; `anna` -> `anna`."""
    return re.sub(r"_\d+$", "", stem).strip().lower()


def training_photos(folder: Path) -> dict[str, list[Path]]:
    """Person -> photos, from sub-folders per person or flat <person>[_<n>].jpg files."""
    people: dict[str, list[Path]] = {}
    for entry in sorted(folder.iterdir()):
        if entry.is_dir():
            photos = sorted(p for p in entry.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
            if photos:
                people.setdefault(entry.name.lower(), []).extend(photos)
        elif entry.suffix.lower() in PHOTO_SUFFIXES:
            people.setdefault(person_of(entry.stem), []).append(entry)
    if not people:
        raise SystemExit(f"No JPEG/PNG photos in {folder}.")
    return people


def test_photos(folder: Path) -> list[tuple[Path, list[str]]]:
    """(photo, the people it shows) from names like anna+ben+unknown.jpg."""
    photos = [
        (path, [person_of(part) for part in path.stem.split("+") if part.strip()])
        for path in sorted(folder.iterdir()) if path.suffix.lower() in PHOTO_SUFFIXES
    ]
    if not photos:
        raise SystemExit(f"No JPEG/PNG photos in {folder}.")
    return photos


def default_layout(work: Path, source: Path) -> tuple[Path, Path]:
    """Train/test folders in `work` from the shared faces folder (or the project's fixtures)."""
    train, test = work / "train", work / "test"
    (train / "obama").mkdir(parents=True)
    test.mkdir()
    shutil.copy(source / "obama.jpg", train / "obama" / "obama.jpg")
    names = {
        "obama2.jpg": "obama_1.jpg", "obama3.jpg": "obama_2.jpg", "obama_480p.jpg": "obama_3.jpg",
        "obama_small.jpg": "obama_4.jpg", "obama_partial_face.jpg": "obama_5.jpg",
        "biden.jpg": "unknown_1.jpg", "obama_and_biden.jpg": "obama+unknown.jpg",
    }
    for original, name in names.items():
        if (source / original).exists():
            shutil.copy(source / original, test / name)
    return train, test


# --- A database of its own and a real worker ------------------------------------------------


def database_url_for(name: str) -> str:
    """DATABASE_URL with another database name (for the worker)."""
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/campus")
    return base.split("?", 1)[0].rsplit("/", 1)[0] + f"/{name}"


def create_database(name: str) -> None:
    import dj_database_url
    import psycopg

    db = dj_database_url.parse(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/campus"))
    with psycopg.connect(host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"], password=db.get("PASSWORD"),
                         dbname="postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(name: str) -> None:
    import dj_database_url
    import psycopg

    db = dj_database_url.parse(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/campus"))
    with psycopg.connect(host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"], password=db.get("PASSWORD"),
                         dbname="postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    celery = Path(sys.executable).with_name("celery")
    command = [str(celery), "-A", "config", "worker", "-Q", "frames", "-P", "solo", "--without-gossip",
               "--without-mingle", "--without-heartbeat", "--loglevel", "WARNING",
               "-n", f"bench-{uuid.uuid4().hex[:6]}@%h"]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop_worker(worker: subprocess.Popen) -> None:
    stop_process(worker, timeout=20, group=True)


# --- The run --------------------------------------------------------------------------------


@dataclass
class PhotoResult:
    name: str
    expected: list[str]
    seen: list[str] = field(default_factory=list)  # student names, "unknown" for an unrecognised face
    state: str = ""
    correct: int = 0
    wrong: int = 0
    missed: int = 0
    strangers: int = 0
    strangers_unknown: int = 0


def score(result: PhotoResult, enrolled: set[str]) -> None:
    recognised = [name for name in result.seen if name != UNKNOWN]
    expected_enrolled = [name for name in result.expected if name in enrolled]
    result.correct = sum(1 for name in set(expected_enrolled) if name in recognised)
    result.wrong = sum(1 for name in recognised if name not in expected_enrolled)
    result.missed = len(set(expected_enrolled)) - result.correct
    result.strangers = sum(1 for name in result.expected if name not in enrolled)
    unknown_faces = sum(1 for name in result.seen if name == UNKNOWN)
    result.strangers_unknown = min(result.strangers, unknown_faces)


def run(args: argparse.Namespace, work: Path) -> int:
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections

    db_name = f"{settings.DATABASES['default']['NAME']}_bench_recognition"
    create_database(db_name)
    settings.DATABASES["default"]["NAME"] = db_name
    connections.close_all()
    print(f"database {db_name}: migrating ...", flush=True)
    call_command("migrate", verbosity=0, interactive=False)
    worker_env = {**os.environ, "DATABASE_URL": database_url_for(db_name)}
    worker = start_worker(worker_env, work / "worker.log")
    try:
        failures = bench(args, work)
    finally:
        stop_worker(worker)
        connections.close_all()
        drop_database(db_name)
    return failures


def bench(args: argparse.Namespace, work: Path) -> int:
    from django.contrib.auth import get_user_model
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.utils import timezone
    from rest_framework.test import APIClient

    from attendance.choices import SessionStatus
    from attendance.models import ClassSession
    from cameras.choices import FrameState
    from cameras.models import FaceSighting, Frame
    from campus.models import Building, Course, Department, Enrolment, Room, Section, Student, Term

    train = training_photos(args.train)
    tests = test_photos(args.test)
    admin = get_user_model().objects.create_superuser(username="bench", email="bench@example.org",
                                                        password=uuid.uuid4().hex)
    client = APIClient()
    client.force_authenticate(admin)

    now = timezone.now().replace(microsecond=0)
    today = timezone.localdate(now)
    building = Building.objects.create(code="BENCH", name="Bench")
    department = Department.objects.create(code="BENCH", name="Bench")
    course = Course.objects.create(code="BENCH", title="Bench", department=department)
    term = Term.objects.create(name="Bench", start_date=today - dt.timedelta(days=60),
                               end_date=today + dt.timedelta(days=60))
    section = Section.objects.create(course=course, term=term, code="A")

    def room_with_session(code: str, start: dt.datetime) -> tuple[Room, ClassSession]:
        room = Room.objects.create(building=building, code=code, name=code, capacity=40)
        session = ClassSession.objects.create(
            section=section, room=room, date=timezone.localdate(start), scheduled_start=start,
            scheduled_end=start + dt.timedelta(hours=2), status=SessionStatus.OPEN, opened_at=start,
        )
        return room, session

    photo_room, _ = room_with_session("PHOTOS", now - dt.timedelta(minutes=5))

    # Students: consent and enrolment through the API, as staff would do it.
    students: dict[str, Student] = {}
    print(f"\nenrolling {len(train)} people (API: face-consent, faces)")
    for index, (person, photos) in enumerate(sorted(train.items())):
        student = Student.objects.create(student_number=f"BENCH{index:04d}", first_name=person, last_name="")
        Enrolment.objects.create(section=section, student=student, enrolled_on=today - dt.timedelta(days=30))
        response = client.post(f"/api/v1/students/{student.pk}/face-consent", {"given": True}, format="json")
        if response.status_code >= 300:
            raise SystemExit(f"consent for {person}: HTTP {response.status_code} {response.content[:200]!r}")
        enrolled = 0
        for photo in photos:
            response = client.post(
                f"/api/v1/students/{student.pk}/faces",
                {"image": SimpleUploadedFile(photo.name, photo.read_bytes(), content_type="image/jpeg")},
                format="multipart",
            )
            if response.status_code == 201:
                enrolled += 1
            else:
                code = response.json().get("error", {}).get("code", response.status_code)
                print(f"  {person}: {photo.name} not enrolled ({code})")
        print(f"  {person}: {enrolled} of {len(photos)} photos enrolled")
        if enrolled:
            students[person] = student
    names = {student.pk: person for person, student in students.items()}

    response = client.post("/api/v1/cameras", {"name": "bench-photos", "room": photo_room.pk,
                                                "source_kind": "push"}, format="json")
    if response.status_code != 201:
        raise SystemExit(f"camera: HTTP {response.status_code} {response.content[:300]!r}")
    camera_id = response.json()["id"]

    # Each test photo is a frame pushed by the camera, 10 s apart (no track carries over).
    print(f"pushing {len(tests)} test photos to POST /api/v1/cameras/{camera_id}/frames; a worker processes them")
    pushed: list[tuple[Path, list[str], int | None]] = []
    for index, (photo, expected) in enumerate(tests):
        captured_at = (now + dt.timedelta(seconds=10 * index)).isoformat()
        response = client.post(
            f"/api/v1/cameras/{camera_id}/frames",
            {"image": SimpleUploadedFile(photo.name, photo.read_bytes(), content_type="image/jpeg"),
             "captured_at": captured_at},
            format="multipart",
        )
        frame_id = response.json().get("frame") if response.status_code in (200, 202) else None
        if frame_id is None:
            print(f"  {photo.name}: not queued (HTTP {response.status_code})")
        pushed.append((photo, expected, frame_id))
    waiting = [frame_id for _, _, frame_id in pushed if frame_id]
    deadline = time.monotonic() + args.timeout
    while Frame.objects.filter(pk__in=waiting, state__in=[FrameState.PENDING, FrameState.PROCESSING]).exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"the worker did not finish within {args.timeout} s (see {work / 'worker.log'})")
        time.sleep(0.5)

    results = []
    enrolled_names = set(students)
    for photo, expected, frame_id in pushed:
        result = PhotoResult(photo.name, expected)
        if frame_id:
            frame = Frame.objects.get(pk=frame_id)
            result.state = frame.state
            result.seen = [
                names.get(student_id, f"student {student_id}") if student_id else UNKNOWN
                for student_id in FaceSighting.objects.filter(frame=frame).order_by("pk")
                .values_list("student_id", flat=True)
            ]
        score(result, enrolled_names)
        results.append(result)

    print("\n| photo | expected | recognised | correct | wrong student | missed | strangers kept unknown |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r.name} | {'+'.join(r.expected)} | {', '.join(r.seen) or '(no face)'} | {r.correct} | "
              f"{r.wrong} | {r.missed} | {r.strangers_unknown}/{r.strangers} |")
    totals = {key: sum(getattr(r, key) for r in results)
              for key in ("correct", "wrong", "missed", "strangers", "strangers_unknown")}
    print(f"\ntotals: {totals['correct']} correct, {totals['wrong']} wrong student, {totals['missed']} missed, "
          f"{totals['strangers_unknown']} of {totals['strangers']} strangers kept unknown")
    failures = totals["wrong"]

    if args.video:
        failures += bench_video(args, students, names, room_with_session)
    return failures


def bench_video(args, students, names, room_with_session) -> int:
    from django.utils import timezone

    from attendance.models import AttendanceRecord
    from bench._video import jpeg_frames
    from bench.bench_engine import bare_engine_run
    from cameras.choices import SightingOutcome
    from cameras.management.commands.ingest_video import replay
    from cameras.models import FaceSighting
    from cameras.pipeline import reset_memory
    from cameras.services import create_camera

    expected = [person.strip().lower() for person in (args.expect or "").split(",") if person.strip()]
    # Its own room and a session two hours on, so the photos' sightings neither conflict nor agree.
    start = timezone.now().replace(microsecond=0) + dt.timedelta(hours=2)
    room, session = room_with_session("VIDEO", start)
    camera = create_camera(name="bench-video", room=room, source_kind="push", sample_interval_seconds=2.0)
    reset_memory()
    summary = replay(camera=camera, source=args.video, start=start + dt.timedelta(seconds=30), every=None,
                     progress=False)

    frames, fps = jpeg_frames(args.video)
    # The bare engine (decode, detect, embed every face) per frame, on up to 60 frames spread over
    # the video (its cost per frame hardly varies); the frames are encoded beforehand, not timed.
    sample = frames[:: max(1, len(frames) // 60)]
    clock = time.perf_counter()
    for data in sample:
        bare_engine_run(data)
    bare_seconds = time.perf_counter() - clock
    bare_fps = len(sample) / bare_seconds if bare_seconds else 0.0

    print(f"\nvideo {args.video.name}: {len(frames)} frames at {fps:.0f} fps, camera interval "
          f"{camera.sample_interval_seconds:g} s")
    print("| student | marked | status | first seen (s into the video) | sightings (embedded / tracked) "
          "| best distance | how |")
    print("|---|---|---|---|---|---|---|")
    failures = 0
    for person in sorted(set(expected) | {names[pk] for pk in summary["students_marked_ids"] if pk in names}):
        student = students.get(person)
        record = AttendanceRecord.objects.filter(student=student, session=session).first() if student else None
        rows = list(FaceSighting.objects.filter(student=student, room=room).order_by("seen_at")
                    .values_list("distance", "tracked", "outcome", "seen_at")) if student else []
        embedded = [d for d, tracked, _, _ in rows if not tracked and d is not None]
        best = min(embedded) if embedded else None
        marking = next((row for row in rows if row[2] == SightingOutcome.MARKED), None)
        if marking is None:
            how = "-"
        elif marking[0] is not None and marking[0] <= _strong():
            how = f"strong match ({marking[0]:.3f})"
        else:
            agreeing = sum(1 for d, tracked, _, at in rows if not tracked and d is not None and at <= marking[3])
            how = f"consensus: {agreeing} embedded sightings up to the mark"
        first = (record.first_seen_at - (start + dt.timedelta(seconds=30))).total_seconds() if record else None
        print(f"| {person} | {'yes' if record else 'no'} | {record.status if record else '-'} | "
              f"{f'{first:.1f}' if first is not None else '-'} | {len(embedded)} / {len(rows) - len(embedded)} "
              f"| {f'{best:.3f}' if best is not None else '-'} | {how} |")
        if person in expected and record is None:
            failures += 1
        if person not in expected and record is not None:
            failures += 1  # a wrong student marked from the video
    speed = summary["frames_per_second"] / bare_fps if bare_fps else 0.0
    print(f"\nbare engine on every frame: {bare_fps:.1f} frames/s (timed on {len(sample)} frames); "
          "ingest_video at the camera interval: "
          f"{summary['frames_per_second']:.1f} frames/s of video ({speed:.1f}x; goal 5x); "
          f"sent {summary['frames_sent']}, skipped (motion) {summary['frames_skipped']}, "
          f"faces {summary['faces']} ({summary['tracked']} tracked)")
    return failures


def _strong() -> float:
    from django.conf import settings

    return settings.FACE_STRONG_MATCH_DISTANCE


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=Path, help="photos of the people to enrol (see above)")
    parser.add_argument("--test", type=Path, help="photos named after who is in them (see above)")
    parser.add_argument("--video", type=Path, help="a video to replay at the camera's interval")
    parser.add_argument("--expect", help="who should be marked from the video, comma-separated")
    parser.add_argument("--faces", type=Path, default=SHARED,
                        help=f"the faces folder of the default run (default {SHARED})")
    parser.add_argument("--quick", action="store_true", help="the project's own fixtures and a short video (CI)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for the worker")
    args = parser.parse_args()
    if (args.train is None) != (args.test is None):
        parser.error("give both --train and --test, or neither (then ../shared/faces is used)")
    if args.expect and not args.video:
        parser.error("--expect goes with --video")
    with tempfile.TemporaryDirectory(prefix="bench-recognition-") as tmp:
        work = Path(tmp)
        if args.train is None:
            source = FIXTURES if args.quick else args.faces
            if not (source / "obama.jpg").is_file():
                parser.error(f"{source} has no obama.jpg: give --faces DIR, --train/--test, or --quick")
            print(f"data: {source}")
            args.train, args.test = default_layout(work, source)
            if args.video is None:
                sys.path.insert(0, str(ROOT))
                os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
                import django

                django.setup()
                from cameras.tests.videos import build_talk_video

                args.video = work / "talk.mp4"
                build_talk_video(args.video, seconds=8.0 if args.quick else 20.0)
                args.expect = "obama"
        for folder in (args.train, args.test):
            if not folder.is_dir():
                parser.error(f"{folder} is not a folder")
        failures = run(args, work)
    print("\nOK" if not failures else f"\nFAILED: {failures} wrong or missing marks")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
