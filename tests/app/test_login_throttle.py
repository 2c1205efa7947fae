"""Failed logins are throttled per user name and per client address."""

import secrets

import pytest

from linksvc.app import create_app

from ..conftest import Auth
from ..conftest import BufferedClient
from ..services import REDIS_URL
from ..services import require


@pytest.fixture
def strict_app(make_app):
    """The test app's database with tight limits: 3 per user, 5 per address."""
    return make_app(login_limit="3 per minute", login_limit_per_address="5/minute")


def test_failed_logins_per_user_name_get_429_with_retry_after(strict_app):
    client = strict_app.test_client()
    auth = Auth(client)
    for _ in range(3):
        assert auth.login("alice", "wrong").status_code == 200
    blocked = auth.login("alice", "wrong")
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0
    assert "Too Many Requests" in blocked.get_data(as_text=True)
    # Even the right password waits: a guesser cannot tell.
    assert auth.login("alice").status_code == 429
    # Another user from the same address is not blocked by alice's limit.
    assert auth.login("bob").status_code in (302, 303)


def test_failed_logins_per_address(strict_app):
    client = strict_app.test_client()
    auth = Auth(client)
    for name in ("u1", "u2", "u3", "u4", "u5"):
        assert auth.login(name, "wrong").status_code == 200
    assert auth.login("alice").status_code == 429
    other = strict_app.test_client()
    other.environ_base["REMOTE_ADDR"] = "192.0.2.7"
    assert Auth(other).login("alice").status_code in (302, 303)


def test_successful_logins_are_not_counted(strict_app):
    client = strict_app.test_client()
    auth = Auth(client)
    for _ in range(6):
        assert auth.login("alice").status_code in (302, 303)
        auth.logout()


def test_redis_storage_is_shared_between_apps(settings, app):
    require("Redis", "127.0.0.1", 6379)
    shared = {
        **settings,
        "login_limit": "2 per minute",
        "ratelimit_storage_url": REDIS_URL,
    }
    first, second = create_app(shared), create_app(shared)
    for one in (first, second):
        one.test_client_class = BufferedClient
    name = f"shared-{secrets.token_hex(6)}"  # Redis outlives the test run
    assert Auth(first.test_client()).login(name, "x").status_code == 200
    assert Auth(second.test_client()).login(name, "x").status_code == 200
    assert Auth(first.test_client()).login(name, "x").status_code == 429
