"""/health/full: the dependencies and every component, for the staff roles only.

Here rather than in config.health because the permission is accounts' role rule,
and config imports no app; cameras, the top app, may know accounts. config/urls.py
includes this module by name.
"""

from __future__ import annotations

from django.http import JsonResponse
from django.urls import path
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view, permission_classes

from accounts.permissions import IsStaffRole
from config.health import full_report


@extend_schema(
    responses=inline_serializer(
        "HealthFull",
        {
            "status": serializers.CharField(),
            "dependencies": serializers.DictField(),
            "components": serializers.DictField(),
        },
    ),
    tags=["health"],
)
@api_view(["GET"])
@permission_classes([IsStaffRole])
def full(request) -> JsonResponse:
    healthy, report = full_report()
    return JsonResponse(report, status=200 if healthy else 503)


urlpatterns = [
    path("", full, name="health-full"),
]
