"""Device API (device credential only) and staff API (manage_devices)."""

from __future__ import annotations

import base64
from collections.abc import Callable

from django.http import FileResponse, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, status, viewsets
from rest_framework import serializers as drf_serializers
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import RolePermission
from config.bodies import validated_body
from config.exceptions import Conflict
from config.http import client_ip
from config.routes import ApiRoutes

from .. import selectors, services
from ..authentication import DeviceCredentialAuthentication
from ..choices import DeploymentState
from ..models import Bundle, DeploymentTarget, DeviceGroup, RegistrationToken
from ..permissions import IsDevice
from . import serializers as s
from .filters import DeploymentFilter, DeviceFilter

# The routes the views below declare; urls.py serves them.
routes = ApiRoutes()

# --- Device API ----------------------------------------------------------------


class DeviceEndpoint(APIView):
    """Only `Authorization: Device <credential>` is accepted here; a user token is a 401."""

    authentication_classes = [DeviceCredentialAuthentication]
    permission_classes = [IsDevice]

    @property
    def device(self):
        return self.request.user.device


@routes.view("devices/register", name="device-register")
class RegisterView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    # Its own per-address cap instead (services.check_registration_rate).
    throttle_classes: list = []

    @extend_schema(
        request=s.RegisterInput,
        tags=["device-api"],
        responses={
            (201, "application/json"): inline_serializer(
                "DeviceRegistration",
                {
                    "device_id": drf_serializers.IntegerField(),
                    "serial": drf_serializers.CharField(),
                    "state": drf_serializers.CharField(),
                    "credential": drf_serializers.CharField(),
                    "credential_prefix": drf_serializers.CharField(),
                    "config_version": drf_serializers.CharField(),
                    "rotated": drf_serializers.BooleanField(),
                },
            ),
        },
    )
    def post(self, request):
        ip = client_ip(request)
        services.check_registration_rate(ip=ip)
        data = validated_body(s.RegisterInput, request)
        registration = services.register_device(**data, ip=ip if ip != "unknown" else None)
        device = registration.device
        _, version = services.device_config(device)
        return Response(
            {
                "device_id": device.pk,
                "serial": device.serial,
                "state": device.state,
                "credential": registration.credential,
                "credential_prefix": registration.credential.split(".", 1)[0],
                "config_version": version,
                "rotated": not registration.created,
            },
            status=status.HTTP_201_CREATED if registration.created else status.HTTP_200_OK,
        )


@routes.view("devices/heartbeat", name="device-heartbeat")
class HeartbeatView(DeviceEndpoint):
    @extend_schema(
        request=s.HeartbeatInput,
        tags=["device-api"],
        responses=inline_serializer(
            "HeartbeatReply",
            {
                "received_at": drf_serializers.DateTimeField(),
                "config_version": drf_serializers.CharField(),
                "deployment": drf_serializers.JSONField(allow_null=True),
            },
        ),
    )
    def post(self, request):
        data = validated_body(s.HeartbeatInput, request)
        ip = client_ip(request)
        result = services.record_heartbeat(device=self.device, ip=ip if ip != "unknown" else None, data=data)
        return Response(
            {
                "received_at": result.heartbeat.received_at,
                "config_version": result.config_version,
                "deployment": s.target_offer(result.target, request),
            }
        )


@routes.view("devices/config", name="device-config")
class ConfigView(DeviceEndpoint):
    @extend_schema(
        tags=["device-api"],
        operation_id="devices_own_config",
        responses={200: OpenApiTypes.OBJECT, 304: None},
    )
    def get(self, request):
        document, version = services.device_config(self.device)
        etag = f'"{version}"'
        supplied = [tag.strip().removeprefix("W/") for tag in request.headers.get("If-None-Match", "").split(",")]
        if etag in supplied or "*" in supplied:
            response = HttpResponse(status=304)
        else:
            response = Response({"version": version, "config": document})
        response["ETag"] = etag
        response["Cache-Control"] = "no-cache"
        return response


def _sha256_digest_header(hex_digest: str) -> str:
    return "sha-256=:" + base64.b64encode(bytes.fromhex(hex_digest)).decode() + ":"


@routes.view("devices/targets/<int:target_id>/bundle", name="device-target-bundle")
class TargetBundleView(DeviceEndpoint):
    @extend_schema(tags=["device-api"], responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request, target_id: int):
        target = services.target_for_device(device=self.device, target_id=target_id)
        deployment = target.deployment
        if deployment.state != DeploymentState.RUNNING:
            raise Conflict(f"The deployment is {deployment.state}.", code="deployment_not_running")
        bundle = deployment.bundle
        response = FileResponse(
            bundle.file.open("rb"),
            as_attachment=True,
            filename=f"{bundle.name}-{bundle.version}.bundle",
            content_type="application/octet-stream",
        )
        response["X-Checksum-SHA256"] = bundle.sha256
        response["Repr-Digest"] = _sha256_digest_header(bundle.sha256)
        response["Content-Length"] = str(bundle.size_bytes)
        return response


@routes.view("devices/targets/<int:target_id>/status", name="device-target-status")
class TargetStatusView(DeviceEndpoint):
    @extend_schema(request=s.TargetStatusInput, tags=["device-api"], responses=OpenApiTypes.OBJECT)
    def post(self, request, target_id: int):
        data = validated_body(s.TargetStatusInput, request)
        target = services.report_target_status(device=self.device, target_id=target_id, **data)
        return Response(
            {
                "target_id": target.pk,
                "state": target.state,
                "attempts": target.attempts,
                "deployment_state": target.deployment.state,
            }
        )


# --- Staff API -----------------------------------------------------------------


class StaffViewSet(viewsets.GenericViewSet):
    permission_classes = [RolePermission]
    required_permissions = {"*": "manage_devices"}


@routes.viewset("devices", basename="device")
class DeviceViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    StaffViewSet,
):
    serializer_class = s.DeviceSerializer
    filterset_class = DeviceFilter
    search_fields = ["serial", "name"]
    ordering_fields = ["serial", "name", "last_heartbeat_at", "created_at"]
    # Numeric ids only: "devices/groups", "devices/bundles" and the other staff prefixes never read as an id.
    lookup_value_regex = "[0-9]+"

    def get_queryset(self):
        return selectors.devices_for_staff()

    def perform_create(self, serializer):
        serializer.instance = services.create_device(
            actor=self.request.user, request=self.request, **serializer.validated_data
        )

    def perform_update(self, serializer):
        serializer.instance = services.update_device(
            device=serializer.instance, actor=self.request.user, request=self.request, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        services.delete_device(device=instance, actor=self.request.user, request=self.request)

    def _device_response(self, device):
        device = self.get_queryset().get(pk=device.pk)
        return Response(s.DeviceSerializer(device).data)

    @extend_schema(request=None, responses=s.DeviceSerializer)
    @action(detail=True, methods=["post"])
    def disable(self, request, pk=None):
        return self._device_response(
            services.disable_device(device=self.get_object(), actor=request.user, request=request)
        )

    @extend_schema(request=None, responses=s.DeviceSerializer)
    @action(detail=True, methods=["post"])
    def enable(self, request, pk=None):
        return self._device_response(
            services.enable_device(device=self.get_object(), actor=request.user, request=request)
        )

    @extend_schema(
        request=None,
        responses=inline_serializer(
            "DeviceCredentialIssued",
            {
                "device_id": drf_serializers.IntegerField(),
                "credential": drf_serializers.CharField(),
                "credential_prefix": drf_serializers.CharField(),
            },
        ),
    )
    @action(detail=True, methods=["post"], url_path="rotate-credential")
    def rotate_credential(self, request, pk=None):
        device = self.get_object()
        credential = services.rotate_credential(device=device, actor=request.user, request=request)
        return Response(
            {"device_id": device.pk, "credential": credential, "credential_prefix": credential.split(".", 1)[0]}
        )

    @extend_schema(
        request=None,
        responses=inline_serializer("DeviceCredentialsRevoked", {"revoked": drf_serializers.IntegerField()}),
    )
    @action(detail=True, methods=["post"], url_path="revoke-credential")
    def revoke_credential(self, request, pk=None):
        revoked = services.revoke_credentials(device=self.get_object(), actor=request.user, request=request)
        return Response({"revoked": revoked})

    @extend_schema(responses=s.HeartbeatSerializer(many=True))
    @action(detail=True, methods=["get"], serializer_class=s.HeartbeatSerializer, filterset_class=None)
    def heartbeats(self, request, pk=None):
        page = self.paginate_queryset(selectors.heartbeat_history(self.get_object()))
        return self.get_paginated_response(s.HeartbeatSerializer(page, many=True).data)

    @extend_schema(
        responses=inline_serializer(
            "DeviceConfig", {"version": drf_serializers.CharField(), "config": drf_serializers.JSONField()}
        )
    )
    @action(detail=True, methods=["get"], filterset_class=None)
    def config(self, request, pk=None):
        document, version = services.device_config(self.get_object())
        return Response({"version": version, "config": document})

    @extend_schema(responses=OpenApiTypes.OBJECT)
    @action(detail=False, methods=["get"], filterset_class=None, pagination_class=None)
    def summary(self, request):
        return Response(selectors.fleet_summary())


@routes.viewset("devices/groups", basename="device-group")
class DeviceGroupViewSet(viewsets.ModelViewSet):
    permission_classes = [RolePermission]
    required_permissions = {"*": "manage_devices"}
    serializer_class = s.DeviceGroupSerializer
    queryset = DeviceGroup.objects.all()
    search_fields = ["name"]


@routes.viewset("devices/registration-tokens", basename="device-token")
class RegistrationTokenViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, mixins.DestroyModelMixin, StaffViewSet
):
    serializer_class = s.RegistrationTokenSerializer
    queryset = RegistrationToken.objects.select_related("room", "group")
    filterset_fields = ["room", "group"]

    def create(self, request, *args, **kwargs):
        data = validated_body(s.RegistrationTokenSerializer, request)
        token, plaintext = services.create_registration_token(
            actor=request.user, request=request, **data
        )
        body = s.RegistrationTokenSerializer(token).data
        body["token"] = plaintext  # shown once
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=s.RegistrationTokenSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        token = services.revoke_registration_token(token=self.get_object(), actor=request.user, request=request)
        return Response(s.RegistrationTokenSerializer(token).data)


@routes.viewset("devices/bundles", basename="device-bundle")
class BundleViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    StaffViewSet,
):
    serializer_class = s.BundleSerializer
    queryset = Bundle.objects.all()
    parser_classes = [MultiPartParser, FormParser, JSONParser]
    filterset_fields = ["name", "channel"]
    search_fields = ["name", "version"]

    @extend_schema(request={"multipart/form-data": s.BundleUploadInput}, responses=s.BundleSerializer)
    def create(self, request, *args, **kwargs):
        data = validated_body(s.BundleUploadInput, request)
        bundle = services.create_bundle(
            upload=data.pop("file"), actor=request.user, request=request, **data
        )
        return Response(s.BundleSerializer(bundle).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        services.delete_bundle(bundle=instance, actor=self.request.user, request=self.request)


def _deployment_move(name: str, service: Callable[..., object]):
    """A POST action on one deployment: call `service`, answer with the deployment as it now is."""

    def move(self, request, pk=None):
        deployment = self.get_object()
        service(deployment=deployment, actor=request.user, request=request)
        return self._respond(deployment)

    move.__name__ = name  # the router names the route after it (device-deployment-<name>)
    return extend_schema(request=None, responses=s.DeploymentSerializer)(action(detail=True, methods=["post"])(move))


@routes.viewset("devices/deployments", basename="device-deployment")
class DeploymentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, StaffViewSet):
    serializer_class = s.DeploymentSerializer
    filterset_class = DeploymentFilter
    ordering_fields = ["created_at", "state"]

    def get_queryset(self):
        return selectors.deployments_with_progress()

    def _respond(self, deployment, code=status.HTTP_200_OK):
        return Response(s.DeploymentSerializer(self.get_queryset().get(pk=deployment.pk)).data, status=code)

    @extend_schema(request=s.DeploymentCreateInput, responses=s.DeploymentSerializer)
    def create(self, request):
        data = validated_body(s.DeploymentCreateInput, request)
        deployment = services.create_deployment(actor=request.user, request=request, **data)
        return self._respond(deployment, status.HTTP_201_CREATED)

    # Each move of the rollout is a POST to /devices/deployments/<id>/<move> through its service.
    start = _deployment_move("start", services.start_deployment)
    pause = _deployment_move("pause", services.pause_deployment)
    resume = _deployment_move("resume", services.resume_deployment)
    cancel = _deployment_move("cancel", services.cancel_deployment)
    retry = _deployment_move("retry", services.retry_failed_targets)

    @extend_schema(responses=s.DeploymentTargetSerializer(many=True))
    @action(detail=True, methods=["get"], serializer_class=s.DeploymentTargetSerializer, filterset_class=None)
    def targets(self, request, pk=None):
        deployment = self.get_object()
        queryset = DeploymentTarget.objects.filter(deployment=deployment).select_related("device")
        state = request.query_params.get("state")
        if state:
            queryset = queryset.filter(state=state)
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(s.DeploymentTargetSerializer(page, many=True).data)
