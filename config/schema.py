"""OpenAPI extensions for the project's own authentication classes."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension


class UserJWTScheme(SimpleJWTScheme):
    target_class = "accounts.authentication.UserJWTAuthentication"
    name = "jwtAuth"


class DeviceCredentialScheme(OpenApiAuthenticationExtension):
    target_class = "devices.authentication.DeviceCredentialAuthentication"
    name = "deviceCredential"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Device <credential>`: the credential an edge device got when it registered.",
        }
