"""The admin's sign-in form, routed before `admin.site.urls` (config/urls.py) so that it counts
in the API login's rate-limit buckets."""

from django.urls import path

from .admin_login import admin_login

urlpatterns = [path("login/", admin_login, name="admin-login")]
