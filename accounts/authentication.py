"""JWT authentication for users: access tokens only, active users only."""

from __future__ import annotations

from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed

from .sessions import CHAIN_CLAIM, session_is_revoked


class UserJWTAuthentication(JWTAuthentication):
    """simplejwt's access-token check; a token of an ended session or an inactive user is refused at once."""

    def get_validated_token(self, raw_token):
        token = super().get_validated_token(raw_token)
        chain = token.get(CHAIN_CLAIM)
        if chain is not None and session_is_revoked(str(chain)):
            raise AuthenticationFailed("The session has ended; log in again.", code="session_revoked")
        return token

    def get_user(self, validated_token):
        user = super().get_user(validated_token)
        if not user.is_active:
            raise AuthenticationFailed("User is inactive.", code="user_inactive")
        return user
