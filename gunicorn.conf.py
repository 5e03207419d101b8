"""gunicorn reads this file from the working directory (`make run`, the container's /app).

X-Forwarded-Proto (and gunicorn's other scheme headers) are trusted only behind a
proxy: gunicorn by default believes them from 127.0.0.1, so without
TRUSTED_PROXY_COUNT a local client could claim https. Same rule as
config/settings.py's SECURE_PROXY_SSL_HEADER.
"""

import os

_proxies = int(os.environ.get("TRUSTED_PROXY_COUNT") or 0)
# Behind a proxy gunicorn is reachable only through it (compose publishes it on 127.0.0.1).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS") or ("*" if _proxies > 0 else "")
