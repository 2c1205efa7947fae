"""Property tests: nothing but a token we issued, unchanged, is ever accepted."""

import base64

import pytest
from hypothesis import given
from hypothesis import HealthCheck
from hypothesis import settings
from hypothesis import strategies as st
from itsdangerous import URLSafeTimedSerializer

from linksvc.core.errors import LinkInvalid
from linksvc.core.signing import key_id
from linksvc.core.signing import LinkSigner

from ..conftest import KEYS

SIGNER = LinkSigner(KEYS)
TOKEN_A = SIGNER.issue("link-a-0123456789ab", "reports/q3/summary.csv", 2**40)
TOKEN_B = SIGNER.issue("link-b-0123456789ab", "readme.txt", 2**40, limited=False)


def refused(token: str) -> bool:
    try:
        claims = SIGNER.verify(token)
    except LinkInvalid:
        return True
    # Accepted: it must be exactly one of the tokens we issued.
    return token in (TOKEN_A, TOKEN_B) and claims.link_id.startswith("link-")


@settings(max_examples=500)
@given(st.text(max_size=300))
def test_random_text_is_never_accepted(text):
    assert refused(text)


@settings(max_examples=500)
@given(st.integers(min_value=0), st.integers(min_value=0, max_value=7))
def test_bit_flips_are_never_accepted(position, bit):
    raw = bytearray(TOKEN_A.encode())
    position %= len(raw)
    raw[position] ^= 1 << bit
    try:
        mutated = raw.decode()
    except UnicodeDecodeError:
        return
    assert mutated == TOKEN_A or refused(mutated)


@settings(max_examples=300)
@given(st.integers(min_value=1, max_value=len(TOKEN_A) - 1))
def test_truncations_are_never_accepted(cut):
    assert refused(TOKEN_A[:cut])
    assert refused(TOKEN_A[cut:])


@settings(max_examples=300)
@given(st.data())
def test_swapped_parts_between_two_tokens_are_never_accepted(data):
    a, b = TOKEN_A.split("."), TOKEN_B.split(".")
    mixed = [data.draw(st.sampled_from([x, y])) for x, y in zip(a, b, strict=True)]
    candidate = ".".join(mixed)
    assert candidate in (TOKEN_A, TOKEN_B) or refused(candidate)


@pytest.mark.parametrize(
    "encode",
    [
        lambda t: t.replace("-", "+").replace("_", "/"),  # standard base64
        lambda t: t + "==",
        lambda t: t.replace(".", "%2E"),
        lambda t: t.upper(),
        lambda t: t.lower(),
        lambda t: " " + t,
        lambda t: t + "\n",
        lambda t: base64.urlsafe_b64encode(t.encode()).decode(),
    ],
)
def test_re_encodings_are_never_accepted(encode):
    for token in (TOKEN_A, TOKEN_B):
        changed = encode(token)
        assert changed == token or refused(changed)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(["linksvc.download.v0", "itsdangerous", "", "linksvc.api.v1"]),
    st.dictionaries(st.sampled_from("ipenm"), st.integers() | st.text(max_size=20)),
)
def test_same_key_with_another_salt_is_never_accepted(salt, payload):
    serializer = URLSafeTimedSerializer(KEYS[0], salt=salt)
    forged = f"{key_id(KEYS[0])}.{serializer.dumps(payload)}"
    assert refused(forged)


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=1, max_size=64))
def test_other_keys_are_never_accepted(other_key):
    forger = LinkSigner([other_key])
    token = forger.issue("link-a-0123456789ab", "reports/q3/summary.csv", 2**40)
    # Even when it claims our key id, the signature cannot match.
    disguised = key_id(KEYS[0]) + "." + token.split(".", 1)[1]
    assert refused(token) and refused(disguised)


def test_mutated_tokens_over_http_never_download(client, make_link):
    token = make_link("reports/q3/summary.csv")
    for i in range(len(token)):
        flipped = "A" if token[i] != "A" else "B"
        mutated = token[:i] + flipped + token[i + 1 :]
        response = client.get(f"/d/{mutated}")
        assert response.status_code in (404, 410), (i, response.status_code)
