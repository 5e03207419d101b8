from __future__ import annotations

import re
import zoneinfo

from django.contrib.auth.validators import UnicodeUsernameValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.choices import Role
from accounts.models import User
from accounts.selectors import USER_LIST_FIELDS
from config.serializers import StrictBooleanField, StrictModelSerializer, StrictSerializer

PASSWORD_MAX = 128
TOKEN_MAX = 4096
NOTIFICATION_KEY = re.compile(r"[a-z][a-z0-9_]{0,31}")


def password_field(**kwargs) -> serializers.CharField:
    return serializers.CharField(max_length=PASSWORD_MAX, trim_whitespace=False, write_only=True, **kwargs)


class StrictSerializer(StrictSerializer):
    """Refuses fields it does not know, so a typo or a forbidden field is a 400, not ignored."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = set(data) - set(self.fields)
            if unknown:
                raise serializers.ValidationError(
                    {name: ["Unknown or not editable field."] for name in sorted(unknown)}
                )
        return super().to_internal_value(data)


# The schema states validate_notifications' limit; OpenAPI 3.0 has no propertyNames, so the
# key rule is only described (bench/fuzz_contract.toml allows these operations a 400).
@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {"type": "boolean"},
        "maxProperties": 20,
        "description": "At most 20 choices, keys matching `" + NOTIFICATION_KEY.pattern + "`.",
    }
)
class NotificationsField(serializers.DictField):
    pass


class PreferencesSerializer(StrictSerializer):
    language = serializers.CharField(max_length=16, required=False)
    # A choice, so the schema lists the IANA names a client may send (it said "any string").
    time_zone = serializers.ChoiceField(
        choices=sorted(zoneinfo.available_timezones()), required=False,
        error_messages={"invalid_choice": "Unknown time zone."},
    )
    notifications = NotificationsField(child=StrictBooleanField(), required=False)

    def validate_notifications(self, value: dict) -> dict:
        if len(value) > 20 or not all(NOTIFICATION_KEY.fullmatch(key) for key in value):
            raise serializers.ValidationError("At most 20 notification choices named with a-z, 0-9 and _.")
        return value


class UserSerializer(StrictModelSerializer):
    class Meta:
        model = User
        fields = list(USER_LIST_FIELDS)
        read_only_fields = fields


class LoginSerializer(StrictSerializer):
    username = serializers.CharField(max_length=254, help_text="Username or email address.")
    password = password_field()


class RefreshSerializer(StrictSerializer):
    refresh = serializers.CharField(max_length=TOKEN_MAX)


class VerifySerializer(StrictSerializer):
    token = serializers.CharField(max_length=TOKEN_MAX)


class TokenPairSerializer(StrictSerializer):
    access = serializers.CharField()
    refresh = serializers.CharField()
    refresh_expires_at = serializers.DateTimeField()


class LoginResultSerializer(TokenPairSerializer):
    user = UserSerializer()


class VerifyResultSerializer(StrictSerializer):
    valid = serializers.BooleanField()
    token_type = serializers.ChoiceField(choices=["access", "refresh"])


class RegisterSerializer(StrictSerializer):
    username = serializers.CharField(max_length=150, validators=[UnicodeUsernameValidator()])
    email = serializers.EmailField(max_length=254)
    password = password_field()
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True)


class ProfileSerializer(StrictSerializer):
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    email = serializers.EmailField(max_length=254, required=False)
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True)
    preferences = PreferencesSerializer(required=False)


class PasswordChangeSerializer(StrictSerializer):
    current_password = password_field()
    new_password = password_field()


class PasswordResetSerializer(StrictSerializer):
    email = serializers.EmailField(max_length=254)


class PasswordResetConfirmSerializer(StrictSerializer):
    uid = serializers.CharField(max_length=64)
    token = serializers.CharField(max_length=128)
    new_password = password_field()


class AuthSessionSerializer(StrictSerializer):
    """One active sign-in session (its newest refresh token)."""

    id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(source="client.chain_started_at")
    ip = serializers.IPAddressField(source="client.ip", allow_null=True)
    user_agent = serializers.CharField(source="client.user_agent")
    current = serializers.SerializerMethodField()

    def get_current(self, token) -> bool:
        return token.client.chain.hex == self.context.get("current_chain")


class SessionListSerializer(StrictSerializer):
    count = serializers.IntegerField()
    results = AuthSessionSerializer(many=True)


class AdminUserCreateSerializer(StrictSerializer):
    username = serializers.CharField(max_length=150, validators=[UnicodeUsernameValidator()])
    email = serializers.EmailField(max_length=254)
    password = password_field(required=False, help_text="Leave out to let the user set one through reset.")
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True)
    role = serializers.ChoiceField(choices=Role.choices, required=False)
    preferences = PreferencesSerializer(required=False)


class AdminUserUpdateSerializer(StrictSerializer):
    email = serializers.EmailField(max_length=254, required=False)
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True)
    role = serializers.ChoiceField(choices=Role.choices, required=False)
    is_active = serializers.BooleanField(required=False)
    preferences = PreferencesSerializer(required=False)


class SetPasswordSerializer(StrictSerializer):
    new_password = password_field()


class RoleSerializer(StrictSerializer):
    role = serializers.CharField(source="name")
    label = serializers.SerializerMethodField()
    permissions = serializers.SerializerMethodField()

    def get_label(self, group) -> str:
        return Role(group.name).label

    def get_permissions(self, group) -> list[str]:
        return [permission.codename for permission in group.permissions.all()]
