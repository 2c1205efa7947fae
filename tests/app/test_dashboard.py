"""The dashboard: browsing, sharing and listing links."""

import re

import pytest

from linksvc.services import of as services_of

from ..conftest import csrf_token


def share(client, path, **data):
    token = csrf_token(client, f"/share/{path}")
    return client.post(f"/share/{path}", data={"csrf_token": token, **data})


def link_url(response) -> str:
    match = re.search(
        r'value="(https://[^"]+/d/[^"]+)"', response.get_data(as_text=True)
    )
    assert match, "no link on the page"
    return match.group(1)


def test_admin_sees_the_whole_tree(client, auth):
    auth.login_as("admin")
    page = client.get("/").get_data(as_text=True)
    for name in ("reports/", "web/", "readme.txt", "meeting notes.txt", "big.bin"):
        assert name in page
    assert ".hidden" not in page
    assert "escape.txt" not in page


def test_user_sees_only_the_way_to_their_grant(client, auth):
    auth.login_as("alice")
    top = client.get("/").get_data(as_text=True)
    assert "reports/" in top and "readme.txt" not in top
    reports = client.get("/browse/reports").get_data(as_text=True)
    assert "q3/" in reports and "q3-old" not in reports
    q3 = client.get("/browse/reports/q3").get_data(as_text=True)
    assert "summary.csv" in q3
    assert "/share/reports/q3/summary.csv" in q3
    assert 'href="/">protected</a>' in q3 and 'href="/browse/reports">reports</a>' in q3


def test_browsing_outside_the_grant_is_403(client, auth):
    auth.login_as("alice")
    assert client.get("/browse/reports/q3-old").status_code == 403
    assert client.get("/browse/web").status_code == 403


@pytest.mark.parametrize("folder", ["..", "../outside", "escape-dir", "%2e%2e"])
def test_browsing_traversal_is_refused(client, auth, folder):
    auth.login_as("admin")
    response = client.get(f"/browse/{folder}")
    assert 400 <= response.status_code < 500
    assert b"secret.txt" not in response.data


def test_share_creates_a_link_that_downloads(client, auth, app, tree):
    auth.login_as("alice")
    form = client.get("/share/reports/q3/summary.csv").get_data(as_text=True)
    for choice in ("1 hour", "1 day", "7 days", "Custom"):
        assert choice in form
    response = share(client, "reports/q3/summary.csv", expires="1h")
    assert response.status_code == 201
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "data-copy" in response.get_data(as_text=True)
    url = link_url(response)
    assert url.startswith("https://links.example.org/d/")
    anonymous = app.test_client()
    download = anonymous.get(url.removeprefix("https://links.example.org"))
    assert download.status_code == 200
    assert download.data == (tree / "reports/q3/summary.csv").read_bytes()
    download.close()


def test_custom_expiry_and_its_limits(client, auth):
    auth.login_as("alice")
    ok = share(client, "reports/q3/summary.csv", expires="custom", custom="90m")
    assert ok.status_code == 201
    too_long = share(client, "reports/q3/summary.csv", expires="custom", custom="60d")
    assert too_long.status_code == 400
    assert "links may live at most 30d" in too_long.get_data(as_text=True)
    bad = share(client, "reports/q3/summary.csv", expires="custom", custom="soon")
    assert bad.status_code == 400
    assert "is not a duration" in bad.get_data(as_text=True)
    empty = share(client, "reports/q3/summary.csv", expires="custom", custom="")
    assert empty.status_code == 400


def test_share_without_csrf_is_rejected(client, auth, svc):
    auth.login_as("alice")
    response = client.post("/share/reports/q3/summary.csv", data={"expires": "1h"})
    assert response.status_code == 400
    assert svc.store.links.list() == []


@pytest.mark.parametrize(
    "path",
    [
        "reports/q3-old/draft.txt",
        "readme.txt",
        "reports/q3/../q3-old/draft.txt",
        "reports/q3/%2e%2e/q3-old/draft.txt",
        "../outside/secret.txt",
        "escape.txt",
    ],
)
def test_cannot_share_outside_the_grant(client, auth, svc, path):
    auth.login_as("alice")
    assert 400 <= client.get(f"/share/{path}").status_code < 500
    token = csrf_token(client, "/share/reports/q3/summary.csv")
    response = client.post(
        f"/share/{path}", data={"csrf_token": token, "expires": "1h"}
    )
    assert 400 <= response.status_code < 500
    assert svc.store.links.list() == []


def test_share_a_missing_file_is_404(client, auth):
    auth.login_as("admin")
    assert client.get("/share/nope.txt").status_code == 404


def test_spoofed_host_does_not_change_the_link(app):
    from ..conftest import Auth
    from ..conftest import BufferedClient

    class EvilHostClient(BufferedClient):
        def open(self, *args, **kwargs):
            kwargs.setdefault("base_url", "https://evil.example")
            return super().open(*args, **kwargs)

    app.test_client_class = EvilHostClient
    evil = app.test_client()
    evil.environ_base["HTTP_X_FORWARDED_HOST"] = "evil.example"
    Auth(evil).login("alice")
    response = share(evil, "reports/q3/summary.csv", expires="1h")
    assert response.status_code == 201
    assert response.request.host == "evil.example"
    assert "evil.example" not in response.get_data(as_text=True)
    assert link_url(response).startswith("https://links.example.org/d/")


def test_my_links_shows_status_and_downloads(client, auth, make_link, app, frozen):
    token = make_link("reports/q3/summary.csv", user="alice", expires="1h")
    make_link("readme.txt", user="admin", expires="1d")
    app.test_client().get(f"/d/{token}").close()
    services_of(app).audit.flush()
    auth.login_as("alice")
    page = client.get("/links").get_data(as_text=True)
    assert "reports/q3/summary.csv" in page
    assert "readme.txt" not in page  # admin's link
    assert re.search(r'class="status active">active<', page)
    assert re.search(r"<td>1</td>", page)
    frozen.tick(7200)
    page = client.get("/links").get_data(as_text=True)
    assert re.search(r'class="status expired">expired<', page)


def test_counts_not_yet_written_are_shown_without_waiting(client, auth, make_link, svc):
    """Downloads of an unlimited link are added to its row in batches; the
    pages add what this process counted meanwhile (written or not, the sum
    is the same), instead of waiting for the audit writer."""
    token = make_link("reports/q3/summary.csv", user="alice", expires="1h")
    link_id = svc.signer.verify(token).link_id
    for _ in range(3):
        svc.counts.add(link_id, 1)
    auth.login_as("alice")
    assert re.search(r"<td>3</td>", client.get("/links").text)


def test_admin_sees_everyones_links(client, auth, make_link):
    make_link("reports/q3/summary.csv", user="alice")
    make_link("readme.txt", user="admin")
    auth.login_as("admin")
    page = client.get("/links").get_data(as_text=True)
    assert "reports/q3/summary.csv" in page and "readme.txt" in page
    assert "<td>alice</td>" in page


def test_pages_have_strict_security_headers(client, auth):
    auth.login_as("alice")
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert "connect-src 'self'" in csp and "default-src 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "private, no-store"
    assert "<script>" not in response.get_data(as_text=True)


def test_my_links_are_paged(client, auth, make_link, monkeypatch):
    from linksvc.web import dashboard

    monkeypatch.setattr(dashboard, "LINKS_PER_PAGE", 2)
    for _ in range(5):
        make_link("reports/q3/summary.csv", user="alice")
    auth.login_as("alice")
    first = client.get("/links").get_data(as_text=True)
    assert first.count("data-link-id=") == 2
    assert "Page 1 of 3" in first and 'href="/links?page=2"' in first
    last = client.get("/links?page=3").get_data(as_text=True)
    assert last.count("data-link-id=") == 1 and 'href="/links?page=2"' in last
    for odd in ("abc", "0", "-1", "\u00b2", "\u0663", "9" * 30):
        assert client.get("/links", query_string={"page": odd}).status_code == 200


def test_a_live_link_can_be_copied_again_and_a_dead_one_cannot(
    client, auth, make_link, svc, frozen
):
    import re

    token = make_link("reports/q3/summary.csv", user="alice", expires="1h")
    link_id = svc.signer.verify(token).link_id
    auth.login_as("alice")
    page = client.get("/links").get_data(as_text=True)
    shown = re.search(rf'id="url-{link_id}" type="text" readonly value="([^"]+)"', page)
    assert shown and shown[1] == f"https://links.example.org/d/{token}"
    detail = client.get(f"/links/{link_id}").get_data(as_text=True)
    assert f"/d/{token}" in detail
    frozen.tick(3601)
    assert f"/d/{token}" not in client.get("/links").get_data(as_text=True)
    assert f"/d/{token}" not in client.get(f"/links/{link_id}").get_data(as_text=True)


def test_the_created_page_shows_a_qr_code_of_the_url(client, auth):
    from ..conftest import csrf_token

    auth.login_as("alice")
    form = csrf_token(client, "/share/reports/q3/summary.csv")
    page = client.post(
        "/share/reports/q3/summary.csv", data={"csrf_token": form, "expires": "1d"}
    ).get_data(as_text=True)
    assert "<svg" in page and "QR code of the share link" in page
    assert "<script" not in page.split("<body>")[1]
