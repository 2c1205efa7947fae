"""Real Chromium (Debian's /usr/bin/chromium) driven by Playwright against a
real ``linksvc serve``. No browser is downloaded at test time: without
Chromium these tests skip (in CI, where .ci/run installs it, they fail)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ..services import require_binary

CHROMIUM = os.environ.get("LINKSVC_CHROMIUM", "/usr/bin/chromium")
#: Screenshots of the main pages, for people and for `make screenshots`.
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.fixture(scope="session")
def chromium():
    require_binary(CHROMIUM, "Debian package chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        yield browser
        browser.close()


@pytest.fixture
def site(start_live):
    """The live server, with the admin and alice (granted reports/q3)."""
    live = start_live(access_log=False)
    result = live.cli(
        "user",
        "add",
        "alice",
        "--grant",
        "reports/q3",
        "--password-stdin",
        input="alice-password-1\n",
    )
    assert result.returncode == 0, result.stderr
    return live


@pytest.fixture
def browser_page(chromium, site):
    """A fresh browser context (no cookies) that may use the clipboard."""
    context = chromium.new_context(
        base_url=site.url,
        accept_downloads=True,
        permissions=["clipboard-read", "clipboard-write"],
        viewport={"width": 1100, "height": 800},
    )
    page = context.new_page()
    yield page
    context.close()


def shoot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def accessible(page) -> None:
    """axe-core on the page: no serious or critical violation."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    bad = [
        v
        for v in results.response["violations"]
        if v.get("impact") in ("serious", "critical")
    ]
    assert not bad, [
        (v["id"], v["help"], [n["target"] for n in v["nodes"]]) for v in bad
    ]


def log_in(page, username: str, password: str) -> None:
    page.goto("/login")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    # Wait for the answer to the form: an assertion made before it arrives
    # reads the login page (a CI run failed that way on a loaded machine).
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()
