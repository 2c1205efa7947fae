"""Single sign-on in Chromium: a real gunicorn, a real OpenID provider."""

import pytest
from playwright.sync_api import expect

from ..oidc import Provider
from .conftest import accessible

pytestmark = pytest.mark.slow


def test_sign_in_with_the_provider_in_a_browser(chromium, start_live, monkeypatch):
    provider = Provider()
    try:
        provider.user("zoe-sub", preferred_username="zoe", email="zoe@example.org")
        monkeypatch.setenv("LINKSVC_OIDC_CLIENT_SECRET", "browser-test-secret")
        live = start_live(
            access_log=False,
            oidc_issuer=provider.url,
            oidc_client_id="linksvc-browser",
            oidc_name="Example IdP",
        )
        context = chromium.new_context(base_url=live.url)
        page = context.new_page()
        page.goto("/links")  # a page behind the login: sent to /login
        accessible(page)
        page.get_by_role("link", name="Sign in with Example IdP").click()
        assert page.url.startswith(provider.url + "/oauth2/authorize")
        page.get_by_placeholder("sub").fill("zoe-sub")
        page.get_by_role("button", name="Authorize").click()
        page.wait_for_url(f"{live.url}/links")
        expect(page.get_by_role("heading", name="My links")).to_be_visible()
        # The session is a real one: the account page knows who this is.
        page.goto("/account")
        assert "zoe" in page.content()
        result = live.cli("user", "list")
        assert "zoe" in result.stdout
        context.close()
    finally:
        provider.stop()
