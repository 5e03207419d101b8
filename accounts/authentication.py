"""JWT authentication for users: access tokens only, active users only."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.utils import get_md5_hash_password

from .selectors import user_with_permissions
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
        """simplejwt's checks, with the user and its permissions read in one query."""
        try:
            user_id = validated_token[api_settings.USER_ID_CLAIM]
        except KeyError as exc:
            raise InvalidToken(_("Token contained no recognizable user identification")) from exc
        user = user_with_permissions(user_id)
        if user is None:
            raise AuthenticationFailed(_("User not found"), code="user_not_found")
        if not user.is_active:
            raise AuthenticationFailed("User is inactive.", code="user_inactive")
        if api_settings.CHECK_REVOKE_TOKEN and validated_token.get(
            api_settings.REVOKE_TOKEN_CLAIM
        ) != get_md5_hash_password(user.password):
            raise AuthenticationFailed(_("The user's password has been changed."), code="password_changed")
        return user
