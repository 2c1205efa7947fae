"""Webhook signatures without a request: the Standard Webhooks headers and
the deprecated one, checked against the standardwebhooks library."""

import base64
import hashlib
import hmac
from datetime import datetime
from datetime import UTC

import pytest
from standardwebhooks.webhooks import Webhook

from linksvc.core import webhook_signatures as sig
from linksvc.core.errors import InvalidInput


def test_new_keys_are_32_random_bytes_in_the_whsec_form():
    a, b = sig.new_key(), sig.new_key()
    assert a != b and a.startswith("whsec_")
    assert len(sig.key_bytes(a)) == 32


def test_each_key_signs_and_the_library_takes_each():
    keys = [sig.new_key(), sig.new_key()]
    at = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    body = '{"event": "download", "name": "r\\u00e9sum\\u00e9 é"}'
    headers = sig.standard_headers(keys, "msg_7", int(at.timestamp()), body)
    assert headers["webhook-id"] == "msg_7"
    assert headers["webhook-timestamp"] == str(int(at.timestamp()))
    assert [s[:3] for s in headers["webhook-signature"].split(" ")] == ["v1,"] * 2
    for key in keys:
        assert Webhook(key).sign("msg_7", at, body) in headers["webhook-signature"]


def test_the_deprecated_header_is_what_earlier_receivers_compute():
    value = sig.linksvc_signature("k" * 64, 1_700_000_000, "{}")
    mac = hmac.new(b"k" * 64, b"1700000000.{}", hashlib.sha256).hexdigest()
    assert value == f"t=1700000000,v1={mac}"


def test_an_old_key_has_a_standard_form_with_the_same_bytes():
    assert sig.key_bytes(sig.standard_form("k" * 64)) == b"k" * 64
    key = sig.new_key()
    assert sig.standard_form(key) == key


@pytest.mark.parametrize("fmt", sig.FORMATS)
def test_headers_per_format(fmt):
    out = sig.headers(fmt, [sig.new_key()], "msg_1", 1, "{}")
    assert ("webhook-signature" in out) == (fmt != "linksvc")
    assert ("X-Linksvc-Signature" in out) == (fmt != "standard")


def test_keys_in_a_variable_or_file():
    a, b = sig.new_key(), sig.new_key()
    assert sig.parse_keys(f" {a}\n{b}\n") == [a, b]
    assert sig.parse_keys("plain-old-secret") == ["plain-old-secret"]
    with pytest.raises(InvalidInput):
        sig.parse_keys("whsec_***")
    with pytest.raises(ValueError):
        sig.standard_headers([], "msg_1", 1, "{}")
    assert base64.b64decode(a[6:]) == sig.key_bytes(a)
