"""The admin's sign-in form counts in the same rate-limit buckets as the API login.

A wrapper routed in front of `admin.site.urls`, so it holds whatever AdminSite
is in use. Like the API login it fails closed: with the cache down, 503.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect

from config.exceptions import RateLimited, ServiceUnavailable

from .services import count_login_attempt


@csrf_protect
@never_cache
def admin_login(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        try:
            count_login_attempt(request, login=request.POST.get("username", ""))
        except RateLimited as exc:
            return _refusal(request, 429, "Too many sign-in attempts", exc.message, exc.retry_after)
        except ServiceUnavailable as exc:
            return _refusal(request, 503, "Sign-in is unavailable", exc.message, exc.retry_after)
    return admin.site.login(request)


def _refusal(request: HttpRequest, status: int, title: str, message: str, retry_after: int) -> HttpResponse:
    context = {"title": title, "message": message, "retry_after": retry_after, "login_url": request.path}
    response = render(request, "accounts/login_limited.html", context, status=status)
    response["Retry-After"] = str(retry_after)
    return response
