"""Site-wide admin settings. Scheduler internals people never edit stay out of the admin; the
periodic tasks, intervals and crontabs (the schedule admins may adjust) stay in it."""

from django.contrib import admin
from django_celery_beat.models import ClockedSchedule, SolarSchedule

# At 1366 px the app list beside every page leaves too little room for the lists themselves;
# the breadcrumbs and the index lead everywhere instead.
admin.site.enable_nav_sidebar = False

for _model in (SolarSchedule, ClockedSchedule):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)
