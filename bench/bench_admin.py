"""Server time of the admin changelists of the big tables, on the data bench_api.py seeded.

    .venv/bin/python bench/bench_admin.py [--repeat 7]

Runs in-process (Django's test client, no network, DEBUG off as in production) as
the bench's admin user against DATABASE_URL: attendance records, face sightings,
frames; first page, a filtered page and a later page. Prints, for each, the
median and best server time in ms, the queries, and the count the page shows
(the paginator's text, so a count that is not the truth would be seen here).
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Production settings, as bench_api's servers run them (the keys only sign this process' own session).
for _name, _value in {
    "DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(48), "JWT_SIGNING_KEY": secrets.token_urlsafe(48),
    "FACE_ENCRYPTION_KEY": "ZGV2LW9ubHktZmFjZS1rZXktMzItYnl0ZXMtbG9uZyE=", "SECURE_SSL_REDIRECT": "0",
    "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend", "ALLOWED_HOSTS": "testserver",
    "LOG_LEVEL": "WARNING",
    # Production serves hashed static files: they are collected into a scratch folder, not var/.
    "VAR_DIR": str(Path(tempfile.gettempdir()) / "campus-bench-admin"),
}.items():
    os.environ.setdefault(_name, _value)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PAGES = [
    ("attendance records", "/admin/attendance/attendancerecord/"),
    ("attendance records, page 50", "/admin/attendance/attendancerecord/?p=50"),
    ("attendance records, absent", "/admin/attendance/attendancerecord/?status__exact=absent"),
    ("face sightings", "/admin/cameras/facesighting/"),
    ("face sightings, page 50", "/admin/cameras/facesighting/?p=50"),
    ("frames", "/admin/cameras/frame/"),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--user", default="bench-admin")
    args = parser.parse_args()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("collectstatic", interactive=False, verbosity=0)
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from accounts.models import User

    client = Client()
    client.force_login(User.objects.get(username=args.user))
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}, load average {'/'.join(f'{x:.1f}' for x in os.getloadavg())}")
    print("| changelist | median ms | best ms | queries | count shown |")
    print("| --- | ---: | ---: | ---: | --- |")
    for name, url in PAGES:
        client.get(url)  # warm: templates, the first connection
        times = []
        for _ in range(args.repeat):
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                response = client.get(url)
                times.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"{url}: HTTP {response.status_code}")
        html = response.content.decode()
        shown = re.search(r'<p class="paginator">(.*?)</p>', html, re.S)
        text = re.sub(r"<[^>]+>|\s+", " ", shown.group(1)).strip() if shown else "?"
        text = re.sub(r"\s+", " ", text).strip()
        text = re.sub(r"^([\d…]+ )+", "", text)  # the page links before the count
        print(f"| {name} | {statistics.median(times):.0f} | {min(times):.0f} | {len(queries)} | {text[:80]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
