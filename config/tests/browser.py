"""One way to open a real browser in tests: Debian's Chromium (`/usr/bin/chromium`, installed by
`make system-deps`; never `playwright install`), headless, driven by Playwright against
pytest-django's `live_server` on 127.0.0.1. Screenshots go to `test-artifacts/`."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def _launch(pw):
    """Chromium's start has been seen to hang on a loaded 2-core machine (CI once waited past
    the test's timeout): a start that takes over a minute is given up and tried again."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    def launch():
        return pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, timeout=60_000)

    try:
        return launch()
    except PlaywrightTimeout:
        return launch()


@contextlib.contextmanager
def browser_tab(base_url: str, *, width: int, height: int) -> Iterator:
    """A tab whose requests may reach `base_url` only; anything else the page asks for is refused."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = _launch(pw)
        context = browser.new_context(viewport={"width": width, "height": height}, base_url=base_url)
        context.set_default_timeout(20_000)
        tab = context.new_page()
        tab.route("**/*", lambda route: route.continue_() if route.request.url.startswith(base_url)
                  else route.abort())
        try:
            yield tab
        finally:
            context.close()
            browser.close()


def pick_autocomplete(page, field_id: str, text: str) -> None:
    """Chooses `text` in one of the admin's autocomplete (select2) boxes.

    The search answers after select2's delay, so Enter waits for a highlighted option
    that shows `text`, and the call returns once the box shows the choice."""
    page.click(f"#{field_id} + .select2 .select2-selection")
    page.fill(".select2-container--open .select2-search__field", text)
    page.wait_for_selector(f".select2-results__option--highlighted:has-text({text!r})", state="visible")
    page.keyboard.press("Enter")
    page.wait_for_selector(f"#{field_id} + .select2 .select2-selection__rendered:has-text({text!r})")
