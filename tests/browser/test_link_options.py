"""Link options in a real browser: sharing with a password and a recipient
who types it, editing a live link, and the admin's groups page."""

import pytest
from playwright.sync_api import expect

from .conftest import accessible
from .conftest import log_in
from .conftest import shoot

pytestmark = pytest.mark.slow


def test_share_with_a_password_and_the_recipient_unlocks_it(
    chromium, browser_page, site, tree, tmp_path
):
    page = browser_page
    page.goto("/login")
    log_in(page, "alice", "alice-password-1")
    page.goto("/share/reports/q3/summary.csv")
    page.get_by_label("Password (optional").fill("read it out")
    page.get_by_label("Only from these networks").fill("127.0.0.0/8, ::1")
    page.get_by_role("button", name="Create link").click()
    url = page.get_by_label("Share link").input_value()

    recipient = chromium.new_context(accept_downloads=True)
    other = recipient.new_page()
    response = other.goto(url)
    assert response.status == 403
    expect(other.get_by_role("heading", name="Password required")).to_be_visible()
    assert "summary.csv" not in other.content()
    accessible(other)
    shoot(other, "password")
    other.get_by_label("Password").fill("not the one")
    other.get_by_role("button", name="Unlock").click()
    expect(other.get_by_text("That is not the link's password.")).to_be_visible()
    other.get_by_label("Password").fill("read it out")
    with other.expect_download() as info:
        other.get_by_role("button", name="Unlock").click()
    info.value.save_as(tmp_path / "got")
    expected = (tree / "reports" / "q3" / "summary.csv").read_bytes()
    assert (tmp_path / "got").read_bytes() == expected
    recipient.close()

    # The owner extends it and lowers its limit; the URL stays the same.
    page.get_by_role("link", name="My links").click()
    page.get_by_role("link", name="reports/q3/summary.csv").click()
    page.get_by_text("Change this link").click()
    accessible(page)
    page.get_by_label("New expiry").fill("3d")
    page.get_by_label("Download limit").fill("5")
    page.get_by_label("Remove the password").check()
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("the link's URL is unchanged")).to_be_visible()
    expect(page.get_by_text("max_downloads: no limit → 5")).to_be_visible()
    expect(page.get_by_text("password removed")).to_be_visible()
    shoot(page, "link-edited")
    assert page.get_by_label("Link to reports/q3/summary.csv").input_value() == url


def test_an_admin_sets_a_group_policy_its_members_see(chromium, browser_page, site):
    page = browser_page
    page.goto("/login")
    log_in(page, "admin", "admin-password-1")
    page.get_by_role("link", name="Groups").click()
    page.get_by_label("Group name").fill("contractors")
    page.get_by_label("Maximum expiry").fill("2d")
    page.get_by_label("Every link needs a password").check()
    page.get_by_role("button", name="Add group").click()
    page.get_by_label("User name").fill("alice")
    page.get_by_role("button", name="Add member").click()
    expect(page.get_by_text("alice is now in contractors.")).to_be_visible()
    accessible(page)
    shoot(page, "group")
    page.get_by_role("button", name="Log out").click()
    log_in(page, "alice", "alice-password-1")
    page.goto("/share/reports/q3/summary.csv")
    expect(page.get_by_text("Your group policy: expiry at most 2d")).to_be_visible()
    page.get_by_label("Expires after").select_option("7d")
    page.get_by_role("button", name="Create link").click()
    refusal = page.get_by_text("Group 'contractors' allows links of at most 2d")
    expect(refusal).to_be_visible()


def test_a_shared_folder_lists_its_files_and_downloads_all(
    chromium, browser_page, site, tree, tmp_path
):
    import io
    import zipfile

    page = browser_page
    log_in(page, "alice", "alice-password-1")
    page.get_by_role("link", name="reports/").click()
    row = page.get_by_role("row").filter(has_text="q3/")
    row.get_by_role("link", name="Share").click()
    expect(page.get_by_text("every file in this folder")).to_be_visible()
    page.get_by_role("button", name="Create link").click()
    url = page.get_by_label("Share link").input_value()

    recipient = chromium.new_context(accept_downloads=True)
    other = recipient.new_page()
    other.goto(url)
    expect(other.get_by_role("heading", name="q3/")).to_be_visible()
    accessible(other)
    shoot(other, "folder")
    with other.expect_download() as info:
        other.get_by_role("link", name="summary.csv").click()
    info.value.save_as(tmp_path / "one")
    expected = (tree / "reports" / "q3" / "summary.csv").read_bytes()
    assert (tmp_path / "one").read_bytes() == expected
    with other.expect_download() as info:
        other.get_by_role("link", name="Download all (.zip)").click()
    assert info.value.suggested_filename == "q3.zip"
    info.value.save_as(tmp_path / "all.zip")
    with zipfile.ZipFile(io.BytesIO((tmp_path / "all.zip").read_bytes())) as archive:
        assert archive.read("q3/summary.csv") == expected
    recipient.close()
