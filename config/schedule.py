"""The project's periodic tasks: the one list. `manage.py sync_schedule` puts it in the database.

django-celery-beat's DatabaseScheduler reads the rows, so admins see and
change them in the admin (Periodic tasks). `sync_schedule` creates missing
rows and leaves existing ones alone, so an admin's change survives later
migrations; `sync_schedule --reset` puts the definitions below back.
All times are UTC (Celery runs with enable_utc).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Every:
    seconds: int


@dataclass(frozen=True)
class Daily:
    hour: int
    minute: int = 0


@dataclass(frozen=True)
class PeriodicJob:
    task: str
    when: Every | Daily
    description: str

    @property
    def name(self) -> str:
        # The task path is the row's name: unique, and says exactly what runs.
        return self.task

    @property
    def expire_seconds(self) -> int | None:
        # A frequent job missed while workers were down is not worth running late
        # ten times over: each run expires when the next one is due.
        return self.when.seconds if isinstance(self.when, Every) else None


PERIODIC_JOBS: tuple[PeriodicJob, ...] = (
    PeriodicJob("attendance.tasks.open_due_sessions", Every(60), "Open class sessions whose start time has come."),
    PeriodicJob("attendance.tasks.close_finished_sessions", Every(60), "Close class sessions that have ended."),
    PeriodicJob("attendance.tasks.daily_summary", Daily(22, 0), "Daily attendance summary."),
    PeriodicJob("devices.tasks.mark_offline_devices", Every(60), "Mark devices without a recent heartbeat offline."),
    PeriodicJob("devices.tasks.expire_registration_tokens", Every(900), "Expire unused device registration tokens."),
    PeriodicJob("cameras.tasks.poll_cameras", Every(30), "Check every camera's stream and record its state."),
    PeriodicJob("accounts.tasks.flush_expired_tokens", Daily(4, 0), "Delete expired JWT refresh tokens."),
    PeriodicJob("config.tasks.nightly_backup", Daily(2, 0), "Database and media backup, verified, with retention."),
    PeriodicJob("config.tasks.purge_expired", Daily(3, 0), "Run every registered retention purger."),
)

# Jobs this list once held and no longer does: `sync_schedule` deletes their rows, so beat
# stops sending a task that no longer exists. Each ran purgers that purge_expired runs too.
RETIRED_TASKS: tuple[str, ...] = (
    "cameras.tasks.purge_biometric_leftovers",
    "devices.tasks.prune_heartbeats",
)
