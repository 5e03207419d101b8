"""Reading a request body through its input serializer, the first step of every write endpoint."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.serializers import BaseSerializer


def validated_body(serializer_class: type[BaseSerializer], request: Request, **kwargs: Any) -> dict[str, Any]:
    """A copy of the body's validated data; an invalid body is a 400 in the one error format."""
    body = serializer_class(data=request.data, **kwargs)
    body.is_valid(raise_exception=True)
    return dict(body.validated_data)
