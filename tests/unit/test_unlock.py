"""The unlock cookie of a password-protected link (core/unlock.py)."""

from datetime import timedelta

from linksvc.core.unlock import COOKIE
from linksvc.core.unlock import Unlocks

KEYS = ["unlock-key-new-0123456789", "unlock-key-old-0123456789"]


def cookie(value: str) -> str:
    return f"other=1; {COOKIE}={value}"


def test_a_cookie_unlocks_its_link_and_password_only(frozen):
    unlocks = Unlocks(KEYS, 3600)
    value = unlocks.value("link1", "hash-a")
    assert unlocks.unlocked(cookie(value), "link1", "hash-a")
    assert not unlocks.unlocked(cookie(value), "link2", "hash-a")
    # A new password (a new hash) makes the old cookie worthless.
    assert not unlocks.unlocked(cookie(value), "link1", "hash-b")
    assert not unlocks.unlocked("", "link1", "hash-a")
    assert not unlocks.unlocked(cookie(value[:-2] + "xx"), "link1", "hash-a")
    assert not unlocks.unlocked(cookie("link1.x.y"), "link1", "hash-a")


def test_a_cookie_lasts_its_lifetime(frozen):
    unlocks = Unlocks(KEYS, 3600)
    value = unlocks.value("link1", "hash-a")
    frozen.tick(timedelta(seconds=3600))
    assert unlocks.unlocked(cookie(value), "link1", "hash-a")
    frozen.tick(timedelta(seconds=2))
    assert not unlocks.unlocked(cookie(value), "link1", "hash-a")


def test_old_keys_are_accepted_and_unknown_ones_not(frozen):
    old = Unlocks(KEYS[1:], 3600).value("link1", "hash-a")
    assert Unlocks(KEYS, 3600).unlocked(cookie(old), "link1", "hash-a")
    stranger = Unlocks(["some-other-key-0123456789"], 3600).value("link1", "hash-a")
    assert not Unlocks(KEYS, 3600).unlocked(cookie(stranger), "link1", "hash-a")


def test_several_cookies_of_that_name_are_each_tried(frozen):
    unlocks = Unlocks(KEYS, 3600)
    other = unlocks.value("link2", "hash-z")
    mine = unlocks.value("link1", "hash-a")
    header = f"{COOKIE}={other}; {COOKIE}={mine}"
    assert unlocks.unlocked(header, "link1", "hash-a")


def test_the_cookie_is_signed_for_unlocks_only(frozen):
    from itsdangerous import TimestampSigner

    from linksvc.core.unlock import UNLOCK_SALT

    unlocks = Unlocks(KEYS, 3600)
    value = unlocks.value("link1", "hash-a")
    link_id, tag = value.split(".")[:2]
    assert link_id == "link1" and len(tag) == 16
    ours = TimestampSigner(list(reversed(KEYS)), salt=UNLOCK_SALT)
    other = TimestampSigner(list(reversed(KEYS)))  # itsdangerous' default salt
    assert unlocks.unlocked(
        cookie(ours.sign(f"link1.{tag}").decode()), "link1", "hash-a"
    )
    assert not unlocks.unlocked(
        cookie(other.sign(f"link1.{tag}").decode()), "link1", "hash-a"
    )


def test_a_bad_cookie_before_a_good_one_does_not_hide_it(frozen):
    unlocks = Unlocks(KEYS, 3600)
    good = unlocks.value("link1", "hash-a")
    assert unlocks.unlocked(
        f"{COOKIE}=forged.value.x; {COOKIE}={good}", "link1", "hash-a"
    )
