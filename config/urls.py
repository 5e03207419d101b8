from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import TemplateView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from . import errors, health
from .metrics import metrics

api_v1 = [
    path("ping", health.ping, name="api-ping"),
    path("", include("accounts.api.urls")),
    path("", include("campus.api.urls")),
    path("", include("attendance.api.urls")),
    path("", include("cameras.api.urls")),
    path("", include("devices.api.urls")),
]

urlpatterns = [
    # The site root, where the admin's "View site" link leads: links to the admin, the API docs and health.
    path("", TemplateView.as_view(template_name="landing.html"), name="landing"),
    # Before the admin's own URLs: its sign-in form counts in the API login's rate-limit buckets.
    path(settings.ADMIN_URL, include("accounts.admin_urls")),
    path(settings.ADMIN_URL, admin.site.urls),
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
    # Staff only: served by cameras, the top app, which knows accounts' roles (config imports no app).
    path("health/full", include("cameras.health")),
    path("metrics", metrics, name="metrics"),
    # The contract is public and static: not counted in the anonymous throttle.
    path("api/schema/", SpectacularAPIView.as_view(throttle_classes=[]), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema", throttle_classes=[]), name="api-docs"),
    path("api/v1/", include(api_v1)),
]

handler400 = errors.handler400
handler403 = errors.handler403
handler404 = errors.handler404
handler500 = errors.handler500
