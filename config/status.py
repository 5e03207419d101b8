"""Status sources: counts of what should be online (cameras, devices), as `{"online": n, "total": m, ...}`.

The attendance dashboard shows them and `manage.py doctor` checks them; the
composition provides them (see config/extensions.py).
"""

from __future__ import annotations

from collections.abc import Callable

from .extensions import ExtensionPoint

StatusSource = Callable[[], dict]
sources: ExtensionPoint[StatusSource] = ExtensionPoint("status sources")
