"""The sender thread of a real gunicorn worker delivers notices by itself."""

import email
import time

import pytest
from aiosmtpd.controller import Controller

from ..conftest import free_port
from .test_live import get

pytestmark = pytest.mark.slow


def test_a_server_mails_the_owner_of_a_first_download_on_its_own(start_live):
    got = []

    class Inbox:
        async def handle_DATA(self, server, session, envelope):
            got.append(email.message_from_bytes(envelope.content))
            return "250 OK"

    controller = Controller(Inbox(), hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        live = start_live(
            smtp_host="127.0.0.1",
            smtp_port=controller.port,
            smtp_security="none",
            outbox_interval="1s",
            notify=True,
            access_log=False,
        )
        assert live.cli("user", "email", "admin", "admin@example.org").returncode == 0
        made = live.cli("link", "create", "readme.txt", "--user", "admin")
        path = "/d/" + made.stdout.splitlines()[-1].rsplit("/d/", 1)[1]
        started = time.monotonic()
        status, _, body = get(live, path)
        assert status == 200 and time.monotonic() - started < 2
        deadline = time.monotonic() + 15
        while not got and time.monotonic() < deadline:
            time.sleep(0.2)
        assert [m["Subject"] for m in got] == ["Downloaded: readme.txt"]
        assert got[0]["To"] == "admin@example.org"
        assert path not in got[0].as_string()
    finally:
        controller.stop()
