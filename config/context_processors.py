"""What every server-rendered page (the admin, the error pages) needs to know."""

from django.conf import settings


def campus(request) -> dict[str, str]:
    return {"campus_name": settings.CAMPUS_NAME}
