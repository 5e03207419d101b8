"""Views that raise each kind of error, for the error-format tests only."""

from django.http import HttpResponse
from django.urls import path
from rest_framework import serializers
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.exceptions import Throttled
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response

from accounts.models import User
from accounts.permissions import require
from config.exceptions import Conflict


class EchoSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=20)
    count = serializers.IntegerField(min_value=0)


@api_view(["POST"])
@authentication_classes([])
@permission_classes([AllowAny])
def echo(request):
    serializer = EchoSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    User.objects.filter(username="never").update(first_name="changed")
    return Response(serializer.validated_data)


@api_view(["GET"])
@permission_classes([IsAuthenticated])
def needs_login(request):
    return Response({"ok": True})


@api_view(["GET"])
@permission_classes([require("manage_system")])
def needs_manage_system(request):
    return Response({"ok": True})


@api_view(["POST"])
@authentication_classes([])
@permission_classes([AllowAny])
def conflict(request):
    raise Conflict("That name is taken.", details={"name": "taken"})


@api_view(["GET"])
@authentication_classes([])
@permission_classes([AllowAny])
def throttled(request):
    raise Throttled(wait=17)


@api_view(["GET"])
@authentication_classes([])
@permission_classes([AllowAny])
def crash(request):
    raise RuntimeError("secret internal detail")


@api_view(["GET"])
@authentication_classes([])
@permission_classes([AllowAny])
def backing_service_down(request):
    from kombu.exceptions import OperationalError
    from redis.exceptions import ConnectionError

    if request.query_params.get("what") == "broker":
        raise OperationalError("[Errno 111] Connection refused")
    raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


@api_view(["GET"])
@authentication_classes([])
@permission_classes([AllowAny])
def value_out_of_range(request):
    from django.db import connection

    with connection.cursor() as cursor:  # PostgreSQL refuses it, however the value is bound
        cursor.execute("SELECT %s::smallint", [int(request.query_params["value"])])
    return Response({"ok": True})


def plain_crash(request):
    raise RuntimeError("secret internal detail in a plain view")


def plain_ok(request):
    return HttpResponse("ok")


urlpatterns = [
    path("api/v1/test/echo", echo),
    path("api/v1/test/needs-login", needs_login),
    path("api/v1/test/needs-manage-system", needs_manage_system),
    path("api/v1/test/conflict", conflict),
    path("api/v1/test/throttled", throttled),
    path("api/v1/test/crash", crash),
    path("api/v1/test/backing-service-down", backing_service_down),
    path("api/v1/test/plain-crash", plain_crash),
    path("api/v1/test/value-out-of-range", value_out_of_range),
    path("plain", plain_ok),
]

# The project's own handlers, as config.urls sets them.
from config.urls import handler400, handler403, handler404, handler500  # noqa: E402, F401
