from django.urls import path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter(trailing_slash=False)
# Detail routes of devices take numeric ids only, so these prefixes never clash.
router.register("devices/groups", views.DeviceGroupViewSet, basename="device-group")
router.register("devices/registration-tokens", views.RegistrationTokenViewSet, basename="device-token")
router.register("devices/bundles", views.BundleViewSet, basename="device-bundle")
router.register("devices/deployments", views.DeploymentViewSet, basename="device-deployment")
router.register("devices", views.DeviceViewSet, basename="device")

# The device API: a device's own credential only.
device_api = [
    path("devices/register", views.RegisterView.as_view(), name="device-register"),
    path("devices/heartbeat", views.HeartbeatView.as_view(), name="device-heartbeat"),
    path("devices/config", views.ConfigView.as_view(), name="device-config"),
    path("devices/targets/<int:target_id>/bundle", views.TargetBundleView.as_view(), name="device-target-bundle"),
    path("devices/targets/<int:target_id>/status", views.TargetStatusView.as_view(), name="device-target-status"),
]

urlpatterns = [*device_api, *router.urls]
