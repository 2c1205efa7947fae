"""Ids people paste into commands never begin with ``-``."""

import secrets
import string

from linksvc.core.ids import random_id


def test_an_id_that_would_begin_with_a_dash_is_drawn_again(monkeypatch):
    drawn = iter(["-W1CfWBag", "-x", "W1CfWBag"])
    monkeypatch.setattr(secrets, "token_urlsafe", lambda n: next(drawn))
    assert random_id(16) == "W1CfWBag"


def test_ids_are_url_safe_and_as_long_as_asked():
    ids = {random_id(16) for _ in range(2000)}
    assert len(ids) == 2000
    assert not any(value.startswith("-") for value in ids)
    assert all(len(value) == 22 for value in ids)
    alphabet = set(string.ascii_letters + string.digits + "-_")
    assert all(set(value) <= alphabet for value in ids)
