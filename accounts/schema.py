"""OpenAPI description of accounts' authentication (drf-spectacular extension)."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class UserJWTScheme(SimpleJWTScheme):
    """`Authorization: Bearer <access token>`, as simplejwt's own scheme."""

    target_class = "accounts.authentication.UserJWTAuthentication"
    name = "jwtAuth"
