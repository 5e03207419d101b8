"""OpenAPI extensions for the project's own authentication classes."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class UserJWTScheme(SimpleJWTScheme):
    target_class = "accounts.authentication.UserJWTAuthentication"
    name = "jwtAuth"
