"""Links per recipient and asking for more time, in a real browser: the
owner shares with two recipients, one downloads, their link is used up and
asks for more time, the owner approves, the same URL works again."""

import pytest
from playwright.sync_api import expect

from .conftest import accessible
from .conftest import log_in
from .conftest import shoot

pytestmark = pytest.mark.slow


def test_a_share_for_two_recipients_and_more_time_for_one(
    chromium, browser_page, site, tree, tmp_path
):
    page = browser_page
    log_in(page, "alice", "alice-password-1")
    page.goto("/share/reports/q3/summary.csv")
    page.get_by_label("Download limit").fill("1")
    page.get_by_label("Recipients (optional").fill("ann@example.org\nFront desk")
    page.get_by_label("Let the recipient ask me for more time").check()
    page.get_by_role("button", name="Create link").click()
    expect(page.get_by_text("Each recipient has a link of their own")).to_be_visible()
    accessible(page)
    shoot(page, "recipients-created")
    desk_url = page.get_by_label("Link for Front desk").input_value()
    ann_url = page.get_by_label("Link for ann@example.org").input_value()
    assert desk_url != ann_url

    recipient = chromium.new_context(accept_downloads=True)
    other = recipient.new_page()
    with other.expect_download() as info:
        try:
            other.goto(desk_url)
        except Exception:  # a download, not a page
            pass
    info.value.save_as(tmp_path / "got")
    expected = (tree / "reports" / "q3" / "summary.csv").read_bytes()
    assert (tmp_path / "got").read_bytes() == expected
    # Used up: the page offers to ask for more time.
    response = other.goto(desk_url)
    assert response.status == 410
    other.get_by_label("A message for them").fill("I lost the file, sorry")
    other.get_by_role("button", name="Ask for more time").click()
    expect(other.get_by_text("We told the person who shared it")).to_be_visible()
    accessible(other)

    # The owner sees one share, a line per recipient, and the request.
    page.goto("/links")
    expect(page.get_by_text("(per recipient)")).to_be_visible()
    page.get_by_role("link", name="reports/q3/summary.csv").click()
    expect(page.get_by_role("heading", name="Recipients")).to_be_visible()
    expect(page.get_by_text("I lost the file, sorry")).to_be_visible()
    accessible(page)
    shoot(page, "recipients-share")
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_text("Approved: the link works again.")).to_be_visible()

    with other.expect_download() as again:
        try:
            other.goto(desk_url)  # the same URL
        except Exception:
            pass
    again.value.save_as(tmp_path / "again")
    assert (tmp_path / "again").read_bytes() == expected
    recipient.close()
