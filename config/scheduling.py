"""Writes `config.schedule.PERIODIC_JOBS` into django-celery-beat's tables."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from .schedule import PERIODIC_JOBS, RETIRED_TASKS, Daily, Every, PeriodicJob


@dataclass
class SyncReport:
    created: list[str] = field(default_factory=list)
    reset: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # rows in the database that are not in the list
    retired: list[str] = field(default_factory=list)  # rows of RETIRED_TASKS, deleted


def _schedule_fields(job: PeriodicJob) -> dict:
    if isinstance(job.when, Every):
        interval, _ = IntervalSchedule.objects.get_or_create(every=job.when.seconds, period=IntervalSchedule.SECONDS)
        return {"interval": interval, "crontab": None}
    assert isinstance(job.when, Daily)
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute=str(job.when.minute), hour=str(job.when.hour), day_of_week="*", day_of_month="*",
        month_of_year="*", timezone="UTC",
    )
    return {"interval": None, "crontab": crontab}


@transaction.atomic
def sync_schedule(*, reset: bool = False, jobs: tuple[PeriodicJob, ...] = PERIODIC_JOBS) -> SyncReport:
    """Creates the missing periodic tasks and deletes retired ones; with `reset`, also restores changed ones.
    Idempotent."""
    report = SyncReport()
    existing = {task.name: task for task in PeriodicTask.objects.select_for_update()}
    for name, row in list(existing.items()):
        if row.task in RETIRED_TASKS:
            row.delete()
            report.retired.append(name)
            del existing[name]
    for job in jobs:
        wanted = {
            "task": job.task,
            "description": job.description,
            "expire_seconds": job.expire_seconds,
            **_schedule_fields(job),
        }
        row = existing.get(job.name)
        if row is None:
            PeriodicTask.objects.create(name=job.name, enabled=True, **wanted)
            report.created.append(job.name)
        elif reset:
            for attr, value in wanted.items():
                setattr(row, attr, value)
            row.enabled = True
            row.save()
            report.reset.append(job.name)
        else:
            report.kept.append(job.name)
    known = {job.name for job in jobs}
    report.unknown = sorted(
        name for name in existing if name not in known and not name.startswith("celery.")
    )
    return report
