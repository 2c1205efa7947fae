"""Passkeys in Chromium with the DevTools virtual authenticator (a real
WebAuthn authenticator inside the browser, not a stub): register two, name
and remove one, sign in with a passkey alone, and use one as the second step
after a password. A real gunicorn serves; the relying party is
``localhost`` (WebAuthn refuses an IP address as a site)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import requests
from playwright.sync_api import expect

from .conftest import accessible
from .conftest import log_in

pytestmark = pytest.mark.slow


def _authenticator(context, page, verified: bool = True):
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    made = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": verified,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp, made["authenticatorId"]


def test_passkeys_register_sign_in_alone_and_as_the_second_step(chromium, start_live):
    live = start_live(access_log=False, public_base_url="")
    result = live.cli(
        "user",
        "add",
        "pia",
        "--grant",
        "reports",
        "--password-stdin",
        input="pia-password-1\n",
    )
    assert result.returncode == 0, result.stderr
    base = f"http://localhost:{live.port}"
    context = chromium.new_context(base_url=base)
    page = context.new_page()
    cdp, authenticator = _authenticator(context, page)

    log_in(page, "pia", "pia-password-1")
    page.wait_for_url(f"{base}/")
    page.goto("/account/passkeys")
    accessible(page)
    adding = page.locator("form[data-passkey=register]")

    def add(name: str) -> None:
        adding.get_by_label("Name", exact=True).fill(name)
        adding.get_by_label("Your password").fill("pia-password-1")
        adding.get_by_role("button", name="Add a passkey").click()

    add("Work laptop")
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.get_by_text("The passkey is added")).to_be_visible()
    # The same authenticator is not registered twice (excludeCredentials).
    add("Again")
    expect(adding.locator("[data-passkey-status]")).to_contain_text("did not work")
    expect(page.locator("tbody tr")).to_have_count(1)
    laptop = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
    assert [c["isResidentCredential"] for c in laptop["credentials"]] == [True]
    # A second device: another authenticator.
    cdp.send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": authenticator})
    cdp, authenticator = _authenticator(context, page)
    add("Spare")
    expect(page.locator("tbody tr")).to_have_count(2)

    # Rename one, remove the other (found by name: two added in one second
    # may list in either order).
    def row(name: str):
        rows = page.locator("tbody tr")
        for i in range(rows.count()):
            if rows.nth(i).locator("input[name=name]").input_value() == name:
                return rows.nth(i)
        raise AssertionError(f"no passkey named {name}")

    first = row("Work laptop")
    first.get_by_label("Name of this passkey").fill("Laptop")
    first.get_by_role("button", name="Rename").click()
    expect(page.get_by_text("Rename")).to_have_count(2)
    page.wait_for_load_state()
    second = row("Spare")
    second.get_by_placeholder("Your password").fill("pia-password-1")
    second.get_by_role("button", name="Remove").click()
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.get_by_text("The passkey is removed")).to_be_visible()
    assert page.locator("tbody tr input[name=name]").input_value() == "Laptop"

    # Back on the laptop (its key, in a fresh authenticator).
    cdp.send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": authenticator})
    cdp, authenticator = _authenticator(context, page)
    cdp.send(
        "WebAuthn.addCredential",
        {"authenticatorId": authenticator, "credential": laptop["credentials"][0]},
    )
    # Signed out, a passkey alone signs her in (no name, no password typed).
    page.get_by_role("button", name="Log out").click()
    page.goto("/login")

    def answer(request) -> bool:
        return (
            request.method == "POST" and urlsplit(request.url).path == "/login/passkey"
        )

    with page.expect_request(answer) as caught:
        page.get_by_role("button", name="Sign in with a passkey").click()
    try:
        page.wait_for_url(f"{base}/")
    except Exception:  # a refusal: its page says why
        raise AssertionError(page.locator("main").inner_text()) from None
    # The same answer with the same session cookie, played again: refused.
    sent = caught.value
    replayed = requests.post(
        sent.url,
        data=sent.post_data,
        headers={
            "Cookie": sent.all_headers()["cookie"],
            "Content-Type": "application/x-www-form-urlencoded",
        },
        allow_redirects=False,
        timeout=10,
    )
    # (The virtual authenticator counts signatures, so its counter says so
    # first; a passkey that keeps its counter at 0 meets the used challenge.)
    assert replayed.status_code == 403 and "Sign-in failed" in replayed.text
    assert "not greater than" in replayed.text or "used already" in replayed.text
    page.goto("/account/sessions")
    assert "passkey" in page.content()

    # Her password now leads to the second step, which the passkey answers.
    page.get_by_role("button", name="Log out").click()
    log_in(page, "pia", "pia-password-1")
    page.wait_for_url(f"{base}/login/second-factor")
    page.get_by_role("button", name="Use your passkey").click()
    page.wait_for_url(f"{base}/")
    page.goto("/account/sessions")
    assert "password and passkey" in page.content()
    context.close()

    # Another browser without her passkey cannot pass the second step.
    other = chromium.new_context(base_url=base)
    page = other.new_page()
    _authenticator(other, page)
    log_in(page, "pia", "pia-password-1")
    page.wait_for_url(f"{base}/login/second-factor")
    page.get_by_role("button", name="Use your passkey").click()
    page.wait_for_selector("[data-passkey-status]:has-text('No passkey was given')")
    other.close()
    audit = live.cli("audit", "export", "--format", "jsonl").stdout
    assert "passkey added" in audit and "passkey removed" in audit
