"""Password attempts on one link, in parallel, against two real gunicorn
workers sharing Redis: the per-link limit holds across them."""

import concurrent.futures
import http.client
import re
from urllib.parse import urlencode

import pytest

from ..services import REDIS_URL
from ..services import require
from .test_live import get

pytestmark = pytest.mark.slow

README = b"hello from the protected tree\n"


def form(live, path: str) -> tuple[str, str]:
    """The session cookie and CSRF token of the password page."""
    status, headers, body = get(live, path)
    assert status == 403, body[:200]
    cookie = headers["Set-Cookie"].split(";")[0]
    token = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', body)[1]
    return cookie, token.decode()


def attempt(live, path: str, cookie: str, token: str, password: str):
    conn = http.client.HTTPConnection("127.0.0.1", live.port, timeout=30)
    try:
        conn.request(
            "POST",
            path,
            body=urlencode({"csrf_token": token, "password": password}),
            headers={
                "Cookie": cookie,
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        response = conn.getresponse()
        response.read()
        return response.status, dict(response.getheaders())
    finally:
        conn.close()


def test_parallel_guesses_on_two_workers_stop_at_the_links_limit(start_live):
    require("Redis", "127.0.0.1", 6379)
    live = start_live(
        "pw",
        workers=2,
        ratelimit_storage_url=REDIS_URL,
        link_password_limit="5 per minute",
        access_log=False,
    )

    def create() -> str:
        made = live.cli(
            "link",
            "create",
            "readme.txt",
            "--user",
            "admin",
            "--password-stdin",
            input="the right one\n",
        )
        assert made.returncode == 0, made.stderr
        return "/d/" + made.stdout.splitlines()[-1].rsplit("/d/", 1)[1]

    path = create()
    forms = [form(live, path) for _ in range(20)]
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        answers = list(
            pool.map(
                lambda f: attempt(live, path, *f, password="a wrong guess"),
                forms,
            )
        )
    statuses = sorted(status for status, _ in answers)
    assert statuses == [403] * 5 + [429] * 15
    assert all(int(h["Retry-After"]) >= 1 for s, h in answers if s == 429)
    # Even the right password waits now: the limit is the link's.
    assert attempt(live, path, *forms[0], password="the right one")[0] == 429

    # Another link opens with its password, and its cookie serves ranges.
    other = create()
    status, headers = attempt(live, other, *form(live, other), password="the right one")
    assert status == 303 and headers["Location"] == other
    unlock = headers["Set-Cookie"].split(";")[0]
    status, _, body = get(live, other, headers={"Cookie": unlock})
    assert (status, body) == (200, README)
    status, _, body = get(live, other, headers={"Cookie": unlock, "Range": "bytes=0-4"})
    assert (status, body) == (206, README[:5])
    assert "the right one" not in live.log() and "a wrong guess" not in live.log()
