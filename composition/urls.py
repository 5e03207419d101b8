from django.urls import path

from .health import full

urlpatterns = [
    path("", full, name="health-full"),
]
