"""JWT authentication for users: access tokens only, active users only."""

from __future__ import annotations

from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed


class UserJWTAuthentication(JWTAuthentication):
    """simplejwt's access-token check, and an inactive user is refused at once."""

    def get_user(self, validated_token):
        user = super().get_user(validated_token)
        if not user.is_active:
            raise AuthenticationFailed("User is inactive.", code="user_inactive")
        return user
