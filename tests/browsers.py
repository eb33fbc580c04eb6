"""The headless browser the dashboard tests drive: Debian's chromium through Playwright (its own
browser download is not used), one per test module.

    from browsers import browser_fixture, needs_chromium  # noqa: F401 - the `browser` fixture
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

CHROMIUM = Path("/usr/bin/chromium")
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def needs_chromium() -> None:
    """Skip the calling test or fixture, saying what to install, where there is no chromium."""
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")


@pytest.fixture(scope="module", name="browser")
def browser_fixture():
    from playwright.sync_api import sync_playwright

    expect.set_options(timeout=60_000)  # a shared 2-core machine can be slow
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        yield chromium
        chromium.close()
