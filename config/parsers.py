"""The API's JSON parser: DRF's, refusing bodies nested deeper than anyone sends.

Python's json module recurses once per level of nesting, so a body of a few
thousand brackets ends in RecursionError (a 500). The depth is measured before
parsing, and only when the body holds enough brackets to be that deep.
"""

from __future__ import annotations

import json

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


def json_depth_exceeds(raw: bytes, limit: int) -> bool:
    """True when `raw` (JSON text) nests objects/arrays more than `limit` levels deep."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    depth = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return False


class CampusJSONParser(JSONParser):
    """JSONParser with a nesting limit (JSON_MAX_DEPTH): too deep is a 400, never a 500."""

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read() if stream is not None else b""
        if json_depth_exceeds(raw, settings.JSON_MAX_DEPTH):
            raise ParseError(f"JSON nested deeper than {settings.JSON_MAX_DEPTH} levels.")
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return json.loads(raw.decode(encoding), parse_constant=_refuse_constant)
        except (ValueError, RecursionError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc


def _refuse_constant(name: str):
    # NaN and Infinity are not JSON (DRF's strict mode refuses them too).
    raise ValueError(f"{name} is not valid JSON")
