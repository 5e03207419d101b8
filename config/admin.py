"""Scheduler internals people never edit stay out of the admin; the periodic tasks, intervals and
crontabs (the schedule admins may adjust) stay in it."""

from django.contrib import admin
from django_celery_beat.models import ClockedSchedule, SolarSchedule

for _model in (SolarSchedule, ClockedSchedule):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)
