"""The OpenAPI error contract, added to every operation by a postprocessing hook.

The authentication schemes are described by the apps that own them (accounts/schema.py,
devices/schema.py, registered in their AppConfig.ready); this module is loaded only when
the schema is generated, after those.
"""


# --- The error contract, on every operation ------------------------------------
ERROR_COMPONENT = {
    "type": "object",
    "description": "The one error format of the API (config.errors).",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {},
                "request_id": {"type": "string"},
            },
            "required": ["code", "message", "details", "request_id"],
        }
    },
    "required": ["error"],
}
# What any operation may answer, and what only one with a request body (or a DELETE) may.
EVERY_OPERATION = {
    "400": "Invalid input (fields, query parameters or a malformed body).",
    "401": "Not authenticated, or the token is invalid, expired or of an ended session.",
    "403": "Authenticated but not allowed.",
    "404": "Not found, or not visible to the caller.",
    "429": "Rate limited; see Retry-After.",
    "503": "A backing service (database, cache) is unavailable; see Retry-After.",
}
WITH_BODY = {
    "409": "Conflicts with existing data.",
    "411": "A chunked body; send a Content-Length.",
    "413": "The body or the image is too large.",
    "415": "Unsupported media type.",
}


def document_errors(result, generator, request, public):
    """drf-spectacular postprocessing hook: error responses on every operation, empty query
    values where they mean "not given", and request bodies that admit no unknown fields
    (the API refuses them with 400)."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_COMPONENT
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            statuses = dict(EVERY_OPERATION)
            if "requestBody" in operation or method == "delete":
                statuses.update(WITH_BODY)
            for status, description in statuses.items():
                operation["responses"].setdefault(status, {"description": description, "content": error})
            document_empty_query_values(operation)
    for name, schema in components.items():
        if name.endswith("Request") and schema.get("type") == "object" and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
    return result


# Query parameters whose empty value is refused (400) rather than read as "not given".
EMPTY_QUERY_VALUE_REFUSED = {"page_size"}


def document_empty_query_values(operation: dict) -> None:
    """`?date_to=` is the same as leaving `date_to` out: django-filter, DRF's optional
    serializer fields and the views' own parsing all read an empty value as absent, as
    an HTML form sends it. Say so (allowEmptyValue), except where the API refuses it."""
    for parameter in operation.get("parameters", []):
        if (
            parameter.get("in") == "query"
            and not parameter.get("required")
            and parameter["name"] not in EMPTY_QUERY_VALUE_REFUSED
        ):
            parameter["allowEmptyValue"] = True
