"""OpenAPI description of the device credential (loaded in DevicesConfig.ready)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class DeviceCredentialScheme(OpenApiAuthenticationExtension):
    target_class = "devices.authentication.DeviceCredentialAuthentication"
    name = "deviceCredential"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Device <credential>`, the credential returned once by registration.",
        }
