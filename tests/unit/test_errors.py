"""core/errors.py: the exception tree and its table."""

from datetime import datetime
from datetime import UTC

import pytest

from linksvc.core import errors


def test_codes_of_a_class_include_its_subclasses_sorted():
    assert errors.InvalidInput.codes() == [
        "bad_duration",
        "expiry_too_long",
        "invalid",
        "policy",
    ]
    assert errors.LinkExpired.codes() == ["link_expired"]
    every = errors.LinksvcError.codes()
    assert every == sorted(set(every)) and "error" in every and "rate_limited" in every


@pytest.mark.parametrize(
    ("make", "message", "status", "api_status", "code"),
    [
        (
            lambda: errors.LinkExpired(datetime(2026, 3, 1, 12, 0, 5, tzinfo=UTC)),
            "This link expired at 2026-03-01 12:00:05 UTC.",
            410,
            None,
            "link_expired",
        ),
        (
            lambda: errors.LinkRevoked(1772366400),
            "This link was revoked at 2026-03-01 12:00:00 UTC.",
            410,
            None,
            "link_revoked",
        ),
        (
            lambda: errors.LinkRevoked(),
            "This link was revoked.",
            410,
            None,
            "link_revoked",
        ),
        (
            lambda: errors.LinkUsedUp(1),
            "This link allowed 1 download and they are used up.",
            410,
            None,
            "link_used_up",
        ),
        (
            lambda: errors.LinkUsedUp(3),
            "This link allowed 3 downloads and they are used up.",
            410,
            None,
            "link_used_up",
        ),
        (
            lambda: errors.LinkNotYetValid(datetime(2026, 3, 1, 15, 0, tzinfo=UTC)),
            "This link becomes valid at 2026-03-01 15:00:00 UTC.",
            403,
            None,
            "link_not_yet_valid",
        ),
        (
            lambda: errors.BadDuration("forever"),
            "'forever' is not a duration: write a positive number followed by "
            "s, m, h, d or w (for example 90s, 15m, 2h, 7d, 2w).",
            400,
            422,
            "bad_duration",
        ),
        (lambda: errors.PathRefused("x."), "x.", 400, 422, "path_refused"),
        (lambda: errors.StoreUnavailable("x."), "x.", 503, None, "unavailable"),
        (lambda: errors.Unauthorized("x."), "x.", 401, None, "unauthorized"),
        (lambda: errors.UserExists("x."), "x.", 409, None, "user_exists"),
    ],
)
def test_messages_are_sentences_and_the_table_is_on_the_class(
    make, message, status, api_status, code
):
    exc = make()
    assert str(exc) == message
    assert (exc.status, exc.api_status, exc.code) == (status, api_status, code)
    assert exc.title


def test_refusals_carry_what_a_page_needs():
    when = datetime(2026, 3, 1, tzinfo=UTC)
    assert errors.LinkExpired(when).expired_at == when
    assert errors.LinkNotYetValid(when).not_before == when
    assert errors.LinkRevoked(5).revoked_at == 5
    assert errors.LinkUsedUp(2).max_downloads == 2
    assert errors.TooManyRequests("Slow down.", 7).retry_after == 7
    assert str(errors.TooManyRequests("Slow down.")) == "Slow down."
    assert (
        str(errors.LinkUsedUp(0))
        == "This link allowed 0 downloads and they are used up."
    )
    assert str(errors.LinkUsedUp(2)).startswith("This link allowed 2 downloads and")
    assert errors.TooManyRequests("Slow down.").retry_after == 60
    assert errors.StoreUnavailable.retry_after == 5
    for cls in (errors.LinkExpired, errors.LinkRevoked, errors.LinkUsedUp):
        assert cls.hint == errors.ASK_FOR_A_NEW_LINK
    assert "whole link was copied" in errors.LinkInvalid.hint
    assert isinstance(errors.InvalidInput("x"), ValueError)
    assert issubclass(errors.ExpiryTooLong, errors.InvalidInput)


def test_times_in_messages_are_utc_whatever_the_local_zone(monkeypatch):
    import os
    import time

    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        assert str(errors.LinkRevoked(1772366400)) == (
            "This link was revoked at 2026-03-01 12:00:00 UTC."
        )
    finally:
        os.environ.pop("TZ", None)
        time.tzset()
