import pytest
from itsdangerous import URLSafeTimedSerializer

from linksvc.core.errors import LinkExpired
from linksvc.core.errors import LinkInvalid
from linksvc.core.errors import LinkNotYetValid
from linksvc.core.signing import check_window
from linksvc.core.signing import DOWNLOAD_SALT
from linksvc.core.signing import key_id
from linksvc.core.signing import LinkSigner

#: Oldest to newest, as itsdangerous and the key ring order them.
KEYS = ["older-key-0123456789", "newest-key-0123456789"]
NEWEST, OLDER = KEYS[-1], KEYS[:1]


def test_round_trip_gives_back_the_claims():
    signer = LinkSigner(KEYS)
    token = signer.issue("abc", "reports/q3/summary.csv", expires_at=2_000_000_000)
    claims = signer.verify(token)
    assert claims.link_id == "abc"
    assert claims.path == "reports/q3/summary.csv"
    assert claims.expires_at == 2_000_000_000
    assert claims.key_id == key_id(NEWEST)
    assert token.startswith(key_id(NEWEST) + ".")


def test_expires_one_second_after_expiry_not_at_it():
    check_window(1000, None, now=999)
    check_window(1000, None, now=1000.9)
    with pytest.raises(LinkExpired) as info:
        check_window(1000, None, now=1001)
    assert info.value.expired_at.timestamp() == 1000
    assert "1970-01-01 00:16:40" in str(info.value)


def test_not_before_is_enforced():
    with pytest.raises(LinkNotYetValid):
        check_window(5000, 2000, now=1999)
    check_window(5000, 2000, now=2000)


def test_verify_checks_the_signature_only_the_row_decides_time():
    signer = LinkSigner(KEYS)
    token = signer.issue("abc", "a.txt", expires_at=1000, not_before=500)
    claims = signer.verify(token)  # long after 1000: the database decides
    assert (claims.expires_at, claims.not_before) == (1000, 500)


def test_limited_flag_round_trips_and_unlimited_tokens_verify():
    signer = LinkSigner(KEYS)
    assert signer.verify(signer.issue("a", "a.txt", 5000)).limited is True
    unlimited = signer.verify(signer.issue("b", "a.txt", 5000, limited=False))
    assert unlimited.limited is False and unlimited.link_id == "b"


def test_an_older_key_still_verifies_but_the_newest_signs():
    old = LinkSigner(OLDER)
    token = old.issue("abc", "a.txt", expires_at=5000)
    rotated = LinkSigner(KEYS)
    assert rotated.verify(token).link_id == "abc"
    assert rotated.issue("x", "a.txt", 5000).startswith(key_id(NEWEST))


@pytest.mark.parametrize(
    "mangle",
    [
        # Not the last character: its low bits are base64 padding.
        lambda t: t[:-5] + ("A" if t[-5] != "A" else "B") + t[-4:],
        lambda t: t[:-5],
        lambda t: t + "x",
        lambda t: "ffffffff" + t[8:],
        lambda t: t.split(".", 1)[1],
        lambda t: "",
        lambda t: ".",
        lambda t: "garbage",
        lambda t: t.upper(),
    ],
    ids=[
        "flip-sig",
        "truncate",
        "append",
        "other-kid",
        "no-kid",
        "empty",
        "dot",
        "garbage",
        "upper",
    ],
)
def test_tampered_tokens_are_invalid(mangle):
    signer = LinkSigner(KEYS)
    token = signer.issue("abc", "a.txt", expires_at=5000)
    with pytest.raises(LinkInvalid):
        signer.verify(mangle(token))


def test_a_token_from_an_unknown_key_is_invalid():
    token = LinkSigner(["some-other-key-0123456789"]).issue("a", "a.txt", 5000)
    with pytest.raises(LinkInvalid):
        LinkSigner(KEYS).verify(token)


def test_same_key_other_salt_is_invalid():
    kid = key_id(NEWEST)
    other = URLSafeTimedSerializer(NEWEST, salt="something-else")
    forged = f"{kid}.{other.dumps({'i': 'a', 'p': 'a.txt', 'e': 5000})}"
    with pytest.raises(LinkInvalid):
        LinkSigner(KEYS).verify(forged)


@pytest.mark.parametrize(
    "payload",
    [
        ["a", "a.txt", 5000],
        {"i": "a", "p": "a.txt"},
        {"i": 1, "p": "a.txt", "e": 5000},
        {"i": "a", "p": "a.txt", "e": "5000"},
        {"i": "a", "p": "a.txt", "e": True},
        {"i": "a", "p": "a.txt", "e": 5000, "n": 1.5},
    ],
)
def test_genuinely_signed_but_malformed_payloads_are_invalid(payload):
    serializer = URLSafeTimedSerializer(NEWEST, salt=DOWNLOAD_SALT)
    token = f"{key_id(NEWEST)}.{serializer.dumps(payload)}"
    with pytest.raises(LinkInvalid):
        LinkSigner(KEYS).verify(token)


def test_signer_needs_a_key():
    with pytest.raises(ValueError):
        LinkSigner([])


def test_a_refused_token_is_told_the_same_sentence_whatever_was_wrong():
    from linksvc.core.signing import INVALID_LINK
    from linksvc.core.signing import MAX_TOKEN

    signer = LinkSigner(KEYS)
    good = signer.issue("abc", "a.txt", 5000)
    for bad in ("x" * (MAX_TOKEN + 1), good[:-2], "garbage", good + "x"):
        with pytest.raises(LinkInvalid) as info:
            signer.verify(bad)
        assert str(info.value) == INVALID_LINK == "Unknown or malformed link."


def test_no_keys_is_a_clear_error():
    with pytest.raises(ValueError, match="^at least one secret key is needed$"):
        LinkSigner([])


def test_key_ids_are_a_salted_hash_of_the_key():
    import hashlib

    expected = hashlib.sha256(b"linksvc.key-id:some-key").hexdigest()[:8]
    assert key_id("some-key") == key_id(b"some-key") == expected


def test_genuine_tokens_are_verified_once_per_process(monkeypatch):
    signer = LinkSigner(KEYS)
    token = signer.issue("abc", "a.txt", 5000)
    calls = []
    real = signer._genuine
    monkeypatch.setattr(signer, "_genuine", lambda t: calls.append(t) or real(t))
    first, again = signer.verify(token), signer.verify(token)
    assert calls == [token] and first == again and first.link_id == "abc"


def test_the_verified_cache_is_bounded(monkeypatch):
    import linksvc.core.signing as signing

    monkeypatch.setattr(signing, "VERIFIED_CACHE", 2)
    signer = LinkSigner(KEYS)
    for i in range(2):
        signer.verify(signer.issue(f"id{i}", "a.txt", 5000))
    assert len(signer._verified) == 2
    signer.verify(signer.issue("id2", "a.txt", 5000))
    assert len(signer._verified) == 1


def test_tokens_from_before_the_limited_flag_count_as_limited():
    """Old tokens carry no "m": they must take the careful path."""
    serializer = URLSafeTimedSerializer(NEWEST, salt=DOWNLOAD_SALT)
    token = f"{key_id(NEWEST)}." + serializer.dumps({"i": "x", "p": "a", "e": 5})
    claims = LinkSigner(KEYS).verify(token)
    assert claims.limited is True and claims.not_before is None


def test_an_opaque_token_names_only_the_link():
    import base64

    signer = LinkSigner(KEYS)
    token = signer.issue_opaque("AbCdEfGhIjKlMnOp")
    assert token == signer.issue_opaque("AbCdEfGhIjKlMnOp")  # the same text
    kid, link_id, signature = token.split(".")
    assert (kid, link_id) == (key_id(NEWEST), "AbCdEfGhIjKlMnOp")
    assert b"reports" not in base64.urlsafe_b64decode(signature + "==")
    claims = signer.verify(token)
    assert claims.opaque and claims.link_id == "AbCdEfGhIjKlMnOp"
    assert claims.path == "" and claims.key_id == kid
    # Both kinds verify side by side.
    assert not signer.verify(signer.issue("x", "a.txt", 10)).opaque


def test_an_opaque_token_cannot_be_altered_or_moved():
    signer = LinkSigner(KEYS)
    kid, link_id, signature = signer.issue_opaque("AbCdEfGhIjKlMnOp").split(".")
    forged = [
        f"{kid}.AbCdEfGhIjKlMnOq.{signature}",  # another link, same signature
        f"{kid}.{link_id}.{signature[:-1]}A",
        f"{kid}.{link_id}.{signature[:-1]}",
        f"{key_id(OLDER[0])}.{link_id}.{signature}",  # the other key's name
        f"{kid}.{link_id}.{signature}=",
    ]
    # The older key's own opaque token is fine; a download token's signature
    # (another salt) is no opaque signature.
    assert LinkSigner(OLDER).issue_opaque(link_id)
    for token in forged:
        with pytest.raises(LinkInvalid):
            signer.verify(token)
    older = LinkSigner(OLDER).issue_opaque(link_id)
    assert signer.verify(older).link_id == link_id


def test_page_and_folder_flags_round_trip_and_default_off():
    signer = LinkSigner(KEYS)
    plain = signer.verify(signer.issue("a", "x.txt", 10))
    assert (plain.recipient_page, plain.folder, plain.limited, plain.opaque) == (
        False,
        False,
        True,
        False,
    )
    flagged = signer.verify(
        signer.issue("a", "x", 10, recipient_page=True, folder=True)
    )
    assert (flagged.recipient_page, flagged.folder) == (True, True)


@pytest.mark.parametrize(
    "payload",
    [
        {"i": "a", "p": "x", "e": 10, "w": 2},
        {"i": "a", "p": "x", "e": 10, "f": 2},
        {"i": "a", "p": "x", "e": 10, "m": 1, "w": "1"},
        {"i": "a", "p": "x", "e": 10, "m": 2},
    ],
)
def test_flags_other_than_0_or_1_are_not_ours(payload):
    serializer = URLSafeTimedSerializer(NEWEST, salt=DOWNLOAD_SALT)
    token = f"{key_id(NEWEST)}.{serializer.dumps(payload)}"
    with pytest.raises(LinkInvalid):
        LinkSigner(KEYS).verify(token)
    fine = {**payload, "w": 1, "f": 1, "m": 1}
    good = f"{key_id(NEWEST)}.{serializer.dumps(fine)}"
    assert LinkSigner(KEYS).verify(good).recipient_page


def test_opaque_claims_say_nothing_until_the_row_does_and_use_their_own_salt():
    from itsdangerous import Signer

    from linksvc.core.signing import OPAQUE_SALT

    signer = LinkSigner(KEYS)
    claims = signer.verify(signer.issue_opaque("AbCdEfGhIjKlMnOp"))
    assert (claims.path, claims.expires_at, claims.limited, claims.recipient_page) == (
        "",
        0,
        False,
        False,
    )
    kid = key_id(NEWEST)
    ours = Signer(NEWEST, salt=OPAQUE_SALT).sign("AbCdEfGhIjKlMnOp").decode()
    assert signer.verify(f"{kid}.{ours}").link_id == "AbCdEfGhIjKlMnOp"
    for salt in (DOWNLOAD_SALT, "itsdangerous.Signer"):
        other = Signer(NEWEST, salt=salt).sign("AbCdEfGhIjKlMnOq").decode()
        with pytest.raises(LinkInvalid):
            signer.verify(f"{kid}.{other}")


def test_a_token_issued_at_a_given_time_is_the_same_text_each_time():
    from itsdangerous.encoding import base64_decode
    from itsdangerous.encoding import bytes_to_int

    signer = LinkSigner(KEYS)
    first = signer.issue("a", "x.txt", 5000, at=1000, recipient_page=True)
    assert first == signer.issue("a", "x.txt", 5000, at=1000, recipient_page=True)
    assert first != signer.issue("a", "x.txt", 5000, at=1001, recipient_page=True)
    assert bytes_to_int(base64_decode(first.split(".")[2])) == 1000
    claims = signer.verify(first)
    assert (claims.link_id, claims.path, claims.expires_at, claims.recipient_page) == (
        "a",
        "x.txt",
        5000,
        True,
    )
