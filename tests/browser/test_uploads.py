"""The uploader's page in Chromium against a real gunicorn: two files
chosen, their progress shown, then both in the owner's list."""

from __future__ import annotations

import hashlib
import os

import pytest
from playwright.sync_api import expect

from .conftest import accessible

pytestmark = pytest.mark.slow


def test_send_two_files_and_the_owner_sees_them(chromium, site, tmp_path):
    made = site.cli(
        "link",
        "create",
        "--upload",
        "reports",
        "--user",
        "admin",
        "--note",
        "The Q3 contracts, please",
    )
    assert made.returncode == 0, made.stderr
    url = made.stdout.strip().splitlines()[-1]
    small = tmp_path / "contract.pdf"
    small.write_bytes(b"%PDF-1.7\n" + os.urandom(50_000))
    big = tmp_path / "photos.zip"
    big.write_bytes(os.urandom(20 * 1024 * 1024))  # three PATCHes of 8 MiB

    context = chromium.new_context(viewport={"width": 420, "height": 860})  # a phone
    page = context.new_page()
    page.goto(url)
    expect(page.get_by_text("The Q3 contracts, please")).to_be_visible()
    accessible(page)
    page.get_by_label("Choose files").set_input_files([str(small), str(big)])
    expect(page.locator("[data-upload-list] li")).to_have_count(2)
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("status")).to_contain_text("done", timeout=60_000)
    expect(page.get_by_role("status")).to_contain_text("20.0 MiB of 20.0 MiB sent")
    bars = page.locator("progress")
    for i in range(2):
        assert bars.nth(i).get_attribute("value") == bars.nth(i).get_attribute("max")
    page.get_by_role("link", name="Your receipt: what arrived").click()
    receipt = page.content()
    assert "contract.pdf" in receipt and "photos.zip" in receipt

    assert hashlib.sha256(big.read_bytes()).hexdigest() in receipt
    context.close()

    owner = chromium.new_context(base_url=site.url)
    page = owner.new_page()
    page.goto("/login")
    page.get_by_label("User name").fill("admin")
    from ..conftest import PASSWORDS

    page.get_by_label("Password").fill(PASSWORDS["admin"])
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()
    page.goto("/links")
    page.locator("a", has_text="reports").first.click()
    rows = page.locator("table.uploads tbody tr")
    expect(rows).to_have_count(2)
    assert "waiting for you" in rows.nth(0).inner_text()
    page.get_by_role("button", name="Accept all waiting files").click()
    expect(page.locator("table.uploads")).to_contain_text("reports/photos.zip")
    owner.close()
