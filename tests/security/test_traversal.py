"""Every route that takes a path or a token, against the hostile corpus.

Each case asserts: no 5xx, a refusal, and not one byte of either planted
secret (one outside the tree, one inside it but outside alice's grant).
"""

from urllib.parse import quote

import pytest

from linksvc.cli import cli

from ..conftest import csrf_token
from ..conftest import GRANT_SECRET
from ..conftest import SECRET
from .corpus import CORPUS

SECRETS = (SECRET, GRANT_SECRET, b"root:x:0:0")


def url_path(raw: str) -> str:
    """The corpus entry as it would appear in a URL: encoded entries stay as
    typed, characters a URL cannot hold are percent-encoded once."""
    return quote(raw.encode("utf-8", "surrogatepass"), safe="/%\\:.~!$&'()*+,;=@")


def assert_safe(response, secrets=SECRETS) -> None:
    assert response.status_code < 500, response.status_code
    for secret in secrets:
        assert secret not in response.data


@pytest.fixture
def alice(client, auth):
    auth.login_as("alice")
    return client


def test_protected_route(alice):
    for raw in CORPUS:
        response = alice.get("/protected/" + url_path(raw))
        assert_safe(response)
        assert 400 <= response.status_code < 500, raw


def test_protected_route_as_admin_never_leaves_the_tree(client, auth):
    """An admin may read all of protected/ (the q3-old draft included), and
    still nothing outside it."""
    auth.login_as("admin")
    for raw in CORPUS:
        response = client.get("/protected/" + url_path(raw))
        assert_safe(response, secrets=(SECRET, b"root:x:0:0"))


def test_browse_and_share(alice):
    for raw in CORPUS:
        path = url_path(raw)
        for url in (f"/browse/{path}", f"/share/{path}"):
            response = alice.get(url)
            assert_safe(response)
            assert 300 <= response.status_code < 500, raw


def test_share_post_never_creates_a_link(alice, svc):
    token = csrf_token(alice, "/share/reports/q3/summary.csv")
    for raw in CORPUS:
        response = alice.post(
            "/share/" + url_path(raw), data={"csrf_token": token, "expires": "1h"}
        )
        assert_safe(response)
        assert 300 <= response.status_code < 500
    assert svc.store.links.list() == []


def test_api(client, runner, svc):
    secret = runner.invoke(cli, ["token", "create", "t", "--user", "alice"])
    headers = {"Authorization": "Bearer " + secret.output.splitlines()[-1]}
    for raw in CORPUS:
        created = client.post("/api/v1/links", json={"path": raw}, headers=headers)
        assert_safe(created)
        assert 400 <= created.status_code < 500
        folder = quote(raw.encode("utf-8", "surrogatepass"), safe="")
        listed = client.get(f"/api/v1/files?folder={folder}", headers=headers)
        assert_safe(listed)
        assert 400 <= listed.status_code < 500
    assert svc.store.links.list() == []


def test_cli(runner, svc, tree):
    for raw in CORPUS:
        if "\x00" in raw or "\ud800" in raw:
            continue  # an argv cannot carry these
        result = runner.invoke(cli, ["link", "create", raw, "--user", "alice"])
        assert result.exit_code != 0, raw
        for secret in SECRETS:
            assert secret.decode() not in result.output
        admin = runner.invoke(cli, ["link", "create", raw, "--user", "admin"])
        assert SECRET.decode() not in admin.output
    # The admin may share what is inside the tree, and only that.
    for link in svc.store.links.list():
        assert link.owner == "admin"
        if link.folder:
            _, path = svc.tree.folder(link.path)
        else:
            _, path, _ = svc.tree.file(link.path)
        assert tree in path.parents


def test_download_of_genuinely_signed_hostile_paths(client, svc):
    """Even a token we signed cannot name a path outside the tree: the path
    is checked again at every download."""
    for raw in CORPUS:
        if "\ud800" in raw:
            continue  # not text that can be signed
        token = svc.signer.issue("no-such-link", raw, 2**40, limited=False)
        response = client.get("/d/" + token)
        assert_safe(response)
        assert 400 <= response.status_code < 500


def test_download_route_with_hostile_tokens(client):
    for raw in CORPUS:
        response = client.get("/d/" + url_path(raw))
        assert_safe(response)
        assert 400 <= response.status_code < 500, raw
