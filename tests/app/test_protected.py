"""``/protected/<path>``: direct access for logged-in users with a grant."""

import pytest

from ..conftest import SECRET


def test_granted_user_gets_the_file(client, auth, tree):
    auth.login_as("alice")
    response = client.get("/protected/reports/q3/summary.csv")
    assert response.status_code == 200
    assert response.data == (tree / "reports/q3/summary.csv").read_bytes()
    assert response.headers["Cache-Control"] == "private, no-store"
    assert response.headers["Content-Disposition"].startswith("attachment")


def test_ranges_work_on_direct_access_too(client, auth, tree):
    auth.login_as("admin")
    response = client.get("/protected/big.bin", headers={"Range": "bytes=5-9"})
    assert response.status_code == 206
    assert response.data == (tree / "big.bin").read_bytes()[5:10]


@pytest.mark.parametrize(
    "path", ["readme.txt", "reports/q3-old/draft.txt", "reports/q3x", "big.bin"]
)
def test_user_without_a_grant_gets_403(client, auth, path):
    auth.login_as("alice")
    response = client.get(f"/protected/{path}")
    assert response.status_code == 403
    assert b"Not allowed" in response.data


def test_missing_file_and_folder_are_404(client, auth):
    auth.login_as("admin")
    assert client.get("/protected/nope.txt").status_code == 404
    assert client.get("/protected/reports").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "../outside/secret.txt",
        "..%2Foutside%2Fsecret.txt",
        "%2e%2e/outside/secret.txt",
        "%252e%252e/outside/secret.txt",
        "reports/q3/..%2F..%2F..%2Foutside%2Fsecret.txt",
        "..\\outside\\secret.txt",
        "%5c..%5coutside%5csecret.txt",
        "/etc/passwd",
        "%2Fetc%2Fpasswd",
        "readme.txt%00.png",
        "escape.txt",
        "escape-dir/secret.txt",
        ".hidden",
    ],
)
@pytest.mark.parametrize("user", ["alice", "admin"])
def test_traversal_is_refused_and_leaks_nothing(client, auth, path, user):
    auth.login_as(user)
    response = client.get(f"/protected/{path}")
    assert 400 <= response.status_code < 500
    assert SECRET not in response.data
    assert b"root:" not in response.data
