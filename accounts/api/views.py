"""Accounts API: thin views that validate, call one service and serialize."""

from __future__ import annotations

import uuid

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, status, viewsets
from rest_framework import serializers as drf_serializers
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services, sessions
from accounts.permissions import RolePermission
from accounts.selectors import role_groups, users_for_admin
from config.bodies import validated_body
from config.routes import ApiRoutes

from . import serializers as s
from .filters import UserFilter

# The routes the views below declare; urls.py serves them.
routes = ApiRoutes()


def _current_chain(request) -> str | None:
    token = getattr(request, "auth", None)
    return token.get(sessions.CHAIN_CLAIM) if token is not None and hasattr(token, "get") else None


def _pair(pair: sessions.TokenPair) -> dict:
    return s.TokenPairSerializer(pair).data


def _message(name: str, **fields) -> drf_serializers.Serializer:
    return inline_serializer(name, {"detail": drf_serializers.CharField(), **fields})


SESSIONS_ENDED = inline_serializer("SessionsEnded", {"sessions_ended": drf_serializers.IntegerField()})


class PublicView(APIView):
    """No authentication is read, so a stale Authorization header never blocks these."""

    authentication_classes: list = []
    permission_classes = [AllowAny]


@routes.view("auth/login", name="auth-login")
class LoginView(PublicView):
    @extend_schema(request=s.LoginSerializer, responses=s.LoginResultSerializer, tags=["auth"])
    def post(self, request):
        data = validated_body(s.LoginSerializer, request)
        user, pair = services.log_in(login=data["username"], password=data["password"], request=request)
        return Response({**_pair(pair), "user": s.UserSerializer(user).data})


@routes.view("auth/refresh", name="auth-refresh")
class RefreshView(PublicView):
    @extend_schema(request=s.RefreshSerializer, responses=s.TokenPairSerializer, tags=["auth"])
    def post(self, request):
        data = validated_body(s.RefreshSerializer, request)
        return Response(_pair(sessions.rotate_refresh_token(raw=data["refresh"], request=request)))


@routes.view("auth/logout", name="auth-logout")
class LogoutView(PublicView):
    @extend_schema(request=s.RefreshSerializer, responses={204: None}, tags=["auth"])
    def post(self, request):
        data = validated_body(s.RefreshSerializer, request)
        sessions.end_session(raw=data["refresh"], request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


@routes.view("auth/verify", name="auth-verify")
class VerifyView(PublicView):
    @extend_schema(request=s.VerifySerializer, responses=s.VerifyResultSerializer, tags=["auth"])
    def post(self, request):
        data = validated_body(s.VerifySerializer, request)
        return Response({"valid": True, "token_type": sessions.verify_token(raw=data["token"])})


@routes.view("auth/register", name="auth-register")
class RegisterView(PublicView):
    @extend_schema(request=s.RegisterSerializer, responses={201: s.UserSerializer}, tags=["auth"])
    def post(self, request):
        data = validated_body(s.RegisterSerializer, request)
        user = services.register_user(request=request, **data)
        return Response(s.UserSerializer(user).data, status=status.HTTP_201_CREATED)


@routes.view("auth/me", name="auth-me")
class MeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=s.UserSerializer, tags=["auth"])
    def get(self, request):
        return Response(s.UserSerializer(request.user).data)

    @extend_schema(request=s.ProfileSerializer, responses=s.UserSerializer, tags=["auth"])
    def patch(self, request):
        changes = validated_body(s.ProfileSerializer, request)
        user = services.update_profile(user=request.user, changes=changes, request=request)
        return Response(s.UserSerializer(user).data)


@routes.view("auth/password/change", name="auth-password-change")
class PasswordChangeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=s.PasswordChangeSerializer,
        responses=_message("PasswordChanged", sessions_ended=drf_serializers.IntegerField()),
        tags=["auth"],
    )
    def post(self, request):
        data = validated_body(s.PasswordChangeSerializer, request)
        chain = _current_chain(request)
        revoked = services.change_password(
            user=request.user,
            current_password=data["current_password"],
            new_password=data["new_password"],
            keep_chain=uuid.UUID(hex=chain) if chain else None,
            request=request,
        )
        return Response({"detail": "Password changed.", "sessions_ended": revoked})


@routes.view("auth/password/reset", name="auth-password-reset")
class PasswordResetView(PublicView):
    @extend_schema(
        request=s.PasswordResetSerializer, responses={202: _message("PasswordResetRequested")}, tags=["auth"]
    )
    def post(self, request):
        data = validated_body(s.PasswordResetSerializer, request)
        services.request_password_reset(email=data["email"], request=request)
        return Response(
            {"detail": "If an account has this address, a reset link is on its way."},
            status=status.HTTP_202_ACCEPTED,
        )


@routes.view("auth/password/reset/confirm", name="auth-password-reset-confirm")
class PasswordResetConfirmView(PublicView):
    @extend_schema(request=s.PasswordResetConfirmSerializer, responses=_message("PasswordResetDone"), tags=["auth"])
    def post(self, request):
        data = validated_body(s.PasswordResetConfirmSerializer, request)
        services.confirm_password_reset(
            uid=data["uid"], token=data["token"], new_password=data["new_password"], request=request
        )
        return Response({"detail": "Password reset; log in with the new password."})


@routes.view("auth/sessions", name="auth-sessions")
class SessionListView(APIView):
    """GET: the caller's active sessions. DELETE: end all of them ("log out everywhere")."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=s.SessionListSerializer, tags=["auth"])
    def get(self, request):
        tokens = sessions.active_sessions(user=request.user)
        data = s.AuthSessionSerializer(tokens, many=True, context={"current_chain": _current_chain(request)}).data
        return Response({"count": len(data), "results": data})

    # 200 with the count (spectacular's default for DELETE would be a bodyless 204).
    @extend_schema(responses={200: SESSIONS_ENDED}, tags=["auth"], operation_id="auth_sessions_revoke_all")
    def delete(self, request):
        count = sessions.revoke_all_sessions(user=request.user, request=request)
        return Response({"sessions_ended": count})


@routes.view("auth/sessions/<int:pk>", name="auth-session-detail")
class SessionDetailView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={204: None}, tags=["auth"], operation_id="auth_sessions_revoke")
    def delete(self, request, pk: int):
        sessions.revoke_session(user=request.user, token_id=pk, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


@routes.viewset("users", basename="user")
class UserViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """Admin CRUD of users. DELETE deactivates (users are referenced by records that must stay)."""

    permission_classes = [IsAuthenticated, RolePermission]
    required_permissions = {"list": "view_users", "retrieve": "view_users", "*": "manage_users"}
    serializer_class = s.UserSerializer
    filterset_class = UserFilter
    search_fields = ["username", "email", "first_name", "last_name"]
    ordering_fields = ["username", "email", "date_joined", "last_login", "role"]

    def get_queryset(self):
        return users_for_admin()

    @extend_schema(request=s.AdminUserCreateSerializer, responses={201: s.UserSerializer})
    def create(self, request):
        data = validated_body(s.AdminUserCreateSerializer, request)
        user = services.admin_create_user(actor=request.user, data=data, request=request)
        return Response(s.UserSerializer(user).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.AdminUserUpdateSerializer, responses=s.UserSerializer)
    def partial_update(self, request, pk=None):
        user = self.get_object()
        changes = validated_body(s.AdminUserUpdateSerializer, request)
        user = services.admin_update_user(actor=request.user, user=user, changes=changes, request=request)
        return Response(s.UserSerializer(user).data)

    @extend_schema(request=s.AdminUserUpdateSerializer, responses=s.UserSerializer)
    def update(self, request, pk=None):
        return self.partial_update(request, pk)

    def perform_destroy(self, instance):
        services.admin_update_user(
            actor=self.request.user, user=instance, changes={"is_active": False}, request=self.request
        )

    @extend_schema(request=s.SetPasswordSerializer, responses=_message("PasswordSet"))
    @action(detail=True, methods=["post"], url_path="password")
    def set_password(self, request, pk=None):
        user = self.get_object()
        data = validated_body(s.SetPasswordSerializer, request)
        services.admin_set_password(actor=request.user, user=user, new_password=data["new_password"], request=request)
        return Response({"detail": "Password set; the user's sessions were ended."})

    @extend_schema(request=None, responses={200: SESSIONS_ENDED})
    @action(detail=True, methods=["delete"], url_path="sessions")
    def end_sessions(self, request, pk=None):
        user = self.get_object()
        count = sessions.revoke_all_sessions(
            user=user, actor=request.user, request=request, reason=sessions.RevokeReason.ADMIN
        )
        return Response({"sessions_ended": count})


@routes.viewset("roles", basename="role")
class RoleViewSet(viewsets.ViewSet):
    """The four roles with the permissions their groups hold now."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=s.RoleSerializer(many=True))
    def list(self, request):
        return Response(s.RoleSerializer(role_groups(), many=True).data)
