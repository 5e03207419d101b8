"""An app's API routes, declared on the views they serve.

A view carries its route (`@routes.view("auth/me", name="auth-me")`) and a viewset its
prefix (`@routes.viewset("users", basename="user")`), so a route is read and changed
beside its view; the app's urls.py serves `routes.urlpatterns()`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.urls import URLPattern, path
from rest_framework.routers import SimpleRouter
from rest_framework.views import APIView

View = TypeVar("View", bound=type[APIView])


class ApiRoutes:
    """One app's routes: its plain views in the order they are declared, then its viewsets'."""

    def __init__(self) -> None:
        self._views: list[URLPattern] = []
        self._router = SimpleRouter(trailing_slash=False)

    def view(self, route: str, *, name: str) -> Callable[[View], View]:
        def register(view: View) -> View:
            self._views.append(path(route, view.as_view(), name=name))
            return view

        return register

    def viewset(self, prefix: str, *, basename: str) -> Callable[[View], View]:
        def register(viewset: View) -> View:
            self._router.register(prefix, viewset, basename=basename)
            return viewset

        return register

    def urlpatterns(self) -> list[Any]:
        # Plain views first, as the urls modules had them: no viewset's detail route can take one for an id.
        return [*self._views, *self._router.urls]
