"""The periodic tasks: one list in code, synced into django-celery-beat's tables; one beat."""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from config.beat import BeatLock, LockedDatabaseScheduler, last_heartbeat
from config.celery import app as celery_app
from config.schedule import PERIODIC_JOBS, RETIRED_TASKS, Daily, Every, PeriodicJob
from config.scheduling import sync_schedule
from devices.services import prune_heartbeats

BASE_DIR = Path(__file__).resolve().parents[2]

# cameras.tasks.purge_biometric_leftovers and devices.tasks.prune_heartbeats are gone: they ran
# purgers that config.tasks.purge_expired runs (see test_no_two_jobs_reach_the_same_function).
BRIEF_NAMES = {
    "attendance.tasks.open_due_sessions", "attendance.tasks.close_finished_sessions",
    "attendance.tasks.daily_summary", "devices.tasks.mark_offline_devices",
    "devices.tasks.expire_registration_tokens",
    "cameras.tasks.poll_cameras",
    "accounts.tasks.flush_expired_tokens", "config.tasks.nightly_backup", "config.tasks.purge_expired",
}


def test_the_list_names_every_periodic_task_once():
    assert [job.task for job in PERIODIC_JOBS].count("config.tasks.nightly_backup") == 1
    assert {job.task for job in PERIODIC_JOBS} == BRIEF_NAMES
    assert len(PERIODIC_JOBS) == len(BRIEF_NAMES)


@pytest.mark.django_db
def test_migrate_created_the_schedule():
    # post_migrate ran sync_schedule when the test database was built.
    rows = dict(PeriodicTask.objects.values_list("name", "task"))
    assert {name: task for name, task in rows.items() if name in BRIEF_NAMES} == {n: n for n in BRIEF_NAMES}


@pytest.mark.django_db
def test_sync_is_idempotent():
    PeriodicTask.objects.all().delete()
    first = sync_schedule()
    snapshot = list(PeriodicTask.objects.order_by("name").values())
    second = sync_schedule()
    assert sorted(first.created) == sorted(BRIEF_NAMES)
    assert second.created == [] and sorted(second.kept) == sorted(BRIEF_NAMES)
    assert list(PeriodicTask.objects.order_by("name").values()) == snapshot
    assert IntervalSchedule.objects.filter(every=60, period="seconds").count() == 1


@pytest.mark.django_db
def test_intervals_and_daily_times_come_from_the_list():
    for job in PERIODIC_JOBS:
        row = PeriodicTask.objects.select_related("interval", "crontab").get(name=job.name)
        assert row.enabled
        if isinstance(job.when, Every):
            assert (row.interval.every, row.interval.period) == (job.when.seconds, "seconds")
            assert row.expire_seconds == job.when.seconds
        else:
            assert isinstance(job.when, Daily)
            assert (row.crontab.hour, row.crontab.minute) == (str(job.when.hour), str(job.when.minute))
            assert str(row.crontab.timezone) == "UTC"


@pytest.mark.django_db
def test_an_admins_change_survives_a_sync_but_not_a_reset():
    row = PeriodicTask.objects.get(name="config.tasks.nightly_backup")
    row.enabled = False
    row.save()
    call_command("sync_schedule")
    assert PeriodicTask.objects.get(name="config.tasks.nightly_backup").enabled is False
    call_command("sync_schedule", "--reset")
    assert PeriodicTask.objects.get(name="config.tasks.nightly_backup").enabled is True


@pytest.mark.django_db
def test_sync_command_reports_counts(capsys):
    PeriodicTask.objects.filter(name="config.tasks.purge_expired").delete()
    call_command("sync_schedule")
    out = capsys.readouterr().out
    assert "created  config.tasks.purge_expired" in out
    assert "1 created, 0 reset, 8 unchanged" in out


@pytest.mark.django_db
def test_sync_deletes_the_rows_of_retired_jobs(capsys):
    retired = PeriodicTask.objects.create(
        name=RETIRED_TASKS[0], task=RETIRED_TASKS[0], interval=IntervalSchedule.objects.create(every=5, period="days")
    )
    call_command("sync_schedule")
    assert f"removed  {retired.name} (retired)" in capsys.readouterr().out
    assert not PeriodicTask.objects.filter(task__in=RETIRED_TASKS).exists()
    assert sync_schedule().retired == []


# --- Each periodic job scheduled exactly once ------------------------------------------
PROJECT_PACKAGES = ("accounts", "campus", "attendance", "cameras", "devices", "config")
# Not work of their own: the task modules, the Celery app, and the purge runner (what a job
# reaches through it is each purger).
NOT_WORK = ("config.celery", "config.deliveries", "config.retention")


def _work_functions() -> set:
    """The code of every module-level function of the project, but for tests, tasks and the runners above."""
    codes = set()
    for package in PROJECT_PACKAGES:
        for info in pkgutil.walk_packages(importlib.import_module(package).__path__, f"{package}."):
            name = info.name
            if ".tests" in name or ".migrations" in name or name.endswith(".tasks") or name in NOT_WORK:
                continue
            module = importlib.import_module(name)
            codes |= {fn.__code__ for fn in vars(module).values()
                      if inspect.isfunction(fn) and fn.__module__ == name}
    return codes


def _reached_by(task, work: set) -> set[str]:
    """The project functions a task calls first (not those they call in turn), from running it."""
    reached: set[str] = set()

    def profile(frame, event, arg):
        if event != "call" or frame.f_code not in work:
            return
        caller = frame.f_back
        while caller is not None:
            if caller.f_code in work:
                return  # called by another function of the work: not where the job begins
            caller = caller.f_back
        reached.add(f"{frame.f_globals['__name__']}.{frame.f_code.co_qualname}")

    sys.setprofile(profile)
    try:
        task.apply(throw=True)
    finally:
        sys.setprofile(None)
    return reached


def reached_twice(jobs) -> dict[str, list[str]]:
    """Every function that two scheduled jobs reach, with the jobs that reach it."""
    celery_app.loader.import_default_modules()
    work = _work_functions()
    reaching: dict[str, list[str]] = {}
    for job in jobs:
        for function in _reached_by(celery_app.tasks[job.task], work):
            reaching.setdefault(function, []).append(job.name)
    return {function: names for function, names in reaching.items() if len(names) > 1}


@pytest.fixture
def nothing_heavy(settings, tmp_path):
    settings.BACKUP_DIR = tmp_path / "backups"
    settings.MEDIA_ROOT = tmp_path / "media"


@celery_app.task(name="config.tests.prune_heartbeats_again")
def prune_heartbeats_again() -> int:
    return prune_heartbeats(now=timezone.now())


@pytest.mark.django_db
def test_no_two_jobs_reach_the_same_function(nothing_heavy):
    assert reached_twice(PERIODIC_JOBS) == {}


@pytest.mark.django_db
def test_a_job_that_runs_a_purger_again_is_caught(nothing_heavy):
    doubled = (*PERIODIC_JOBS, PeriodicJob("config.tests.prune_heartbeats_again", Daily(3, 30), "again"))
    purger = f"{prune_heartbeats.__module__}.{prune_heartbeats.__qualname__}"  # where devices defines it
    assert reached_twice(doubled) == {purger: ["config.tasks.purge_expired", "config.tests.prune_heartbeats_again"]}


@pytest.fixture
def lock_key(settings):
    settings.BEAT_LOCK_KEY = f"test-beat-lock-{uuid.uuid4().hex[:8]}"
    return settings.BEAT_LOCK_KEY


def test_only_one_holder_of_the_beat_lock(lock_key):
    first, second = BeatLock(), BeatLock()
    assert first.acquire() is True
    assert second.acquire() is False
    assert second.renew() is False
    assert first.renew() is True
    assert second.current_holder() == first.holder
    first.release()
    assert second.acquire() is True
    second.release()


def test_the_running_beat_leaves_a_heartbeat(lock_key):
    lock = BeatLock()
    assert lock.acquire()
    heartbeat = last_heartbeat()
    assert heartbeat["holder"] == lock.holder and heartbeat["age_seconds"] < 5
    lock.release()


@pytest.mark.django_db
def test_a_second_scheduler_refuses_to_start(lock_key):
    running = BeatLock()
    assert running.acquire()
    with pytest.raises(SystemExit, match="another beat holds the lock"):
        LockedDatabaseScheduler(app=celery_app)
    running.release()


def _beat(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel", "INFO"],
        cwd=BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


@pytest.mark.slow
def test_a_second_beat_process_is_refused(django_db_setup, django_db_blocker, lock_key):
    from django.db import connection

    env = {
        **os.environ,
        "DATABASE_URL": os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/" + connection.settings_dict["NAME"],
        "CELERY_BROKER_URL": "memory://",  # beat sends nothing anywhere real
        "BEAT_LOCK_KEY": lock_key,
    }
    first = _beat(env)
    try:
        deadline = time.monotonic() + 30
        with django_db_blocker.unblock():
            while last_heartbeat() is None and time.monotonic() < deadline and first.poll() is None:
                time.sleep(0.2)
            assert last_heartbeat() is not None, first.stdout.read() if first.poll() is not None else "no heartbeat"
        second = _beat(env)
        output, _ = second.communicate(timeout=60)
        assert second.returncode != 0
        assert "Refusing to start celery beat: another beat holds the lock" in output
        assert first.poll() is None  # the first beat is unharmed
    finally:
        first.terminate()
        first.wait(timeout=30)
    with django_db_blocker.unblock():
        assert BeatLock().acquire() is True  # released on a clean stop


def test_without_redis_a_file_lock_keeps_one_beat(settings, tmp_path):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    settings.VAR_DIR = tmp_path
    first, second = BeatLock(), BeatLock()
    assert first.acquire() is True
    assert second.acquire() is False
    assert second.current_holder() == first.holder
    assert last_heartbeat()["holder"] == first.holder
    first.release()
    assert second.acquire() is True
    second.release()
