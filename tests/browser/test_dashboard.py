"""The dashboard as people use it, in a real browser."""

import sqlite3
from pathlib import Path

import pytest
from playwright.sync_api import expect

from .conftest import accessible
from .conftest import log_in
from .conftest import shoot

pytestmark = pytest.mark.slow


def download_in_fresh_context(chromium, url: str, tmp_path: Path) -> bytes:
    """Open ``url`` as a recipient with no session and save the download."""
    context = chromium.new_context(accept_downloads=True)
    page = context.new_page()
    page.goto("about:blank")
    page.set_content(f'<a id="link" href="{url}">link</a>')
    with page.expect_download() as info:
        page.click("#link")
    target = tmp_path / "received"
    info.value.save_as(target)
    context.close()
    return target.read_bytes()


def recipient_page(chromium, url: str):
    context = chromium.new_context()
    page = context.new_page()
    response = page.goto(url)
    return context, page, response


def test_log_in_browse_share_copy_and_download(
    chromium, browser_page, site, tree, tmp_path
):
    page = browser_page
    page.goto("/login")
    accessible(page)
    shoot(page, "login")
    log_in(page, "alice", "wrong password")
    expect(page.get_by_text("Wrong user name or password.")).to_be_visible()
    log_in(page, "alice", "alice-password-1")
    page.get_by_role("link", name="reports/").click()
    page.get_by_role("link", name="q3/").click()
    accessible(page)
    shoot(page, "browse")
    row = page.get_by_role("row").filter(has_text="summary.csv")
    row.get_by_role("link", name="Share").click()
    page.get_by_label("Expires after").select_option("1d")
    accessible(page)
    shoot(page, "share")
    page.get_by_role("button", name="Create link").click()
    url = page.get_by_label("Share link").input_value()
    assert url.startswith(site.url + "/d/")
    page.get_by_role("button", name="Copy").click()
    assert page.evaluate("navigator.clipboard.readText()") == url
    accessible(page)
    shoot(page, "created")
    data = download_in_fresh_context(chromium, url, tmp_path)
    assert data == (tree / "reports" / "q3" / "summary.csv").read_bytes()
    page.get_by_role("link", name="My links").click()
    row = page.get_by_role("row").filter(has_text="summary.csv")
    page.evaluate("navigator.clipboard.writeText('')")
    row.get_by_role("button", name="Copy").click()
    assert page.evaluate("navigator.clipboard.readText()") == url  # copy again
    accessible(page)
    shoot(page, "links")


def test_recipients_see_why_a_link_no_longer_works(chromium, browser_page, site):
    used = site.cli(
        "link", "create", "readme.txt", "--user", "admin", "--max-downloads", "1"
    ).stdout.splitlines()[-1]
    context = chromium.new_context()
    assert context.request.get(used).status == 200
    context.close()
    context, page, response = recipient_page(chromium, used)
    assert response.status == 410
    expect(page.get_by_role("heading", name="Link used up")).to_be_visible()
    accessible(page)
    shoot(page, "used-up")
    context.close()

    expired = site.cli(
        "link", "create", "readme.txt", "--user", "admin"
    ).stdout.splitlines()[-1]
    # The row decides: move its expiry into the past, as time would.
    db = Path(site.env["LINKSVC_SETTINGS"]).parent / "live-instance" / "linksvc.sqlite3"
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE links SET expires_at = 1000 WHERE path = 'readme.txt'"
            " AND max_downloads IS NULL"
        )
    context, page, response = recipient_page(chromium, expired)
    assert response.status == 410
    expect(page.get_by_role("heading", name="Link expired")).to_be_visible()
    expect(
        page.get_by_text("This link expired at 1970-01-01 00:16:40 UTC.")
    ).to_be_visible()
    shoot(page, "expired")
    context.close()


def test_revoking_from_the_list_and_logging_out(chromium, browser_page, site):
    page = browser_page
    url = site.cli(
        "link", "create", "readme.txt", "--user", "admin"
    ).stdout.splitlines()[-1]
    log_in(page, "admin", "admin-password-1")
    page.get_by_role("link", name="All links").click()
    row = page.get_by_role("row").filter(has_text="readme.txt")
    row.get_by_role("button", name="Revoke").click()
    expect(page.get_by_text("Revoked the link to readme.txt.")).to_be_visible()
    expect(
        page.get_by_role("row").filter(has_text="readme.txt").get_by_text("revoked")
    ).to_be_visible()
    context, recipient, response = recipient_page(chromium, url)
    assert response.status == 410
    expect(recipient.get_by_role("heading", name="Link revoked")).to_be_visible()
    accessible(recipient)
    shoot(recipient, "revoked")
    context.close()
    page.get_by_role("link", name="Audit").click()
    accessible(page)
    shoot(page, "audit")
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_text("You are logged out.")).to_be_visible()
    page.goto("/links")
    assert "/login" in page.url


def test_an_admin_adds_a_user_who_sees_only_their_folder(chromium, browser_page, site):
    page = browser_page
    log_in(page, "admin", "admin-password-1")
    page.get_by_role("link", name="Users").click()
    accessible(page)
    shoot(page, "users")
    page.get_by_label("User name").fill("carol")
    page.get_by_label("Folders they may share").fill("reports/q3")
    page.get_by_role("button", name="Add user").click()
    password = page.get_by_label("New password").input_value()
    assert len(password) >= 12
    shoot(page, "password-once")
    context = chromium.new_context(base_url=site.url)
    carol = context.new_page()
    log_in(carol, "carol", password)
    expect(carol.get_by_role("link", name="reports/")).to_be_visible()
    expect(carol.get_by_text("big.bin")).to_have_count(0)
    carol.get_by_role("link", name="reports/").click()
    expect(carol.get_by_role("link", name="q3/")).to_be_visible()
    expect(carol.get_by_text("q3-old")).to_have_count(0)
    carol.get_by_role("link", name="Account").click()
    accessible(carol)
    shoot(carol, "account")
    context.close()
    page.goto("/admin/users/carol")
    accessible(page)
    shoot(page, "user")


def test_times_are_local_with_utc_in_the_tooltip(chromium, site):
    site.cli("link", "create", "readme.txt", "--user", "admin")
    context = chromium.new_context(base_url=site.url, timezone_id="Asia/Tokyo")
    page = context.new_page()
    log_in(page, "admin", "admin-password-1")
    page.get_by_role("link", name="All links").click()
    from playwright.sync_api import expect

    first = page.locator("time[datetime]").first
    utc = first.get_attribute("title")
    assert utc.endswith(" UTC")
    # app.js rewrites the time once the page has loaded: wait for it.
    expect(first).not_to_contain_text("UTC")
    shown = first.inner_text()
    assert shown != utc and "UTC" not in shown  # local (UTC+9) without the label
    context.close()


@pytest.mark.parametrize(
    "path", ["/login", "/", "/links", "/share/readme.txt", "/admin/users/", "/account/"]
)
def test_pages_fit_a_phone_without_sideways_scrolling(chromium, site, path):
    site.cli("link", "create", "readme.txt", "--user", "admin", "--note", "x" * 80)
    context = chromium.new_context(
        base_url=site.url, viewport={"width": 375, "height": 740}
    )
    page = context.new_page()
    if path != "/login":
        log_in(page, "admin", "admin-password-1")
    page.goto(path)
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, (path, overflow)
    name = "phone-" + (path.strip("/").replace("/", "-") or "files")
    shoot(page, name)
    context.close()


def test_sharing_works_without_javascript(chromium, site, tree, tmp_path):
    context = chromium.new_context(base_url=site.url, java_script_enabled=False)
    page = context.new_page()
    log_in(page, "admin", "admin-password-1")
    page.goto("/share/readme.txt")
    page.get_by_role("button", name="Create link").click()
    url = page.get_by_label("Share link").input_value()
    assert "UTC" in page.get_by_text("Anyone with this link").inner_text()
    context.close()
    assert (
        download_in_fresh_context(chromium, url, tmp_path)
        == (tree / "readme.txt").read_bytes()
    )


def test_a_recipient_page_then_the_download(chromium, site, tree, tmp_path):
    url = site.cli(
        "link",
        "create",
        "big.bin",
        "--user",
        "admin",
        "--page",
        "--max-downloads",
        "3",
    ).stdout.splitlines()[-1]
    context = chromium.new_context(accept_downloads=True)
    page = context.new_page()
    page.goto(url)
    expect(page.get_by_role("heading", name="big.bin")).to_be_visible()
    expect(page.get_by_text("3 downloads left")).to_be_visible()
    accessible(page)
    shoot(page, "recipient")
    with page.expect_download() as info:
        page.get_by_role("button", name="Download").click()
    info.value.save_as(tmp_path / "got")
    assert (tmp_path / "got").read_bytes() == (tree / "big.bin").read_bytes()
    page.reload()
    expect(page.get_by_text("2 downloads left")).to_be_visible()
    context.close()


def test_keyboard_only_log_in_share_and_the_remaining_pages(chromium, site):
    context = chromium.new_context(base_url=site.url)
    page = context.new_page()
    page.goto("/login")
    # The user name field has the focus on arrival (autofocus).
    page.wait_for_function("document.activeElement.name === 'username'")
    page.keyboard.type("admin")
    page.keyboard.press("Tab")
    page.keyboard.type("admin-password-1")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{site.url}/")
    page.goto("/share/readme.txt")
    page.get_by_label("Note: who is it for?").focus()
    page.keyboard.type("for Bob")
    page.get_by_role("button", name="Create link").focus()
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Link created").wait_for()
    page.get_by_role("link", name="All links").click()
    page.get_by_role("link", name="readme.txt").first.click()
    accessible(page)
    shoot(page, "link-history")
    page.goto("/account/tokens")
    accessible(page)
    shoot(page, "tokens")
    context.close()
