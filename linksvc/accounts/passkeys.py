"""Passkeys (WebAuthn) for local accounts, with the ``webauthn`` library;
no Flask.

A passkey signs a sign-in alone (a discoverable credential, the person
verified on the device: fingerprint, face, PIN) or as the second step after
a password. The server keeps only public keys. Each challenge is random,
lives ``CHALLENGE_WAIT`` seconds in the person's session and is refused
once the key has signed anything since it was made, so a captured answer
cannot be played again; the origin and relying-party id are checked, so a
look-alike site cannot use the answer either.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from webauthn import generate_authentication_options
from webauthn import generate_registration_options
from webauthn import options_to_json
from webauthn import verify_authentication_response
from webauthn import verify_registration_response
from webauthn.helpers import base64url_to_bytes
from webauthn.helpers import bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import AuthenticatorSelectionCriteria
from webauthn.helpers.structs import PublicKeyCredentialDescriptor
from webauthn.helpers.structs import ResidentKeyRequirement
from webauthn.helpers.structs import UserVerificationRequirement

from ..core.errors import InvalidInput
from ..core.errors import SignInFailed
from ..core.text import printable
from ..db.passkeys import Passkey
from ..db.users import User
from ..services import Services

#: Passkeys one person may keep.
MAX_PASSKEYS = 10
#: Seconds a challenge may be answered in.
CHALLENGE_WAIT = 300
RP_NAME = "linksvc"


@dataclass(frozen=True)
class RelyingParty:
    """Who asks: the site's host name (the relying-party id) and its origin."""

    id: str
    origin: str


@dataclass(frozen=True)
class Challenge:
    """What the session keeps between the options and the answer."""

    value: str
    made_ms: int

    def fresh(self) -> bool:
        return time.time() * 1000 - self.made_ms <= CHALLENGE_WAIT * 1000


def _record(svc: Services, outcome: str, user: User, actor: str, **extra) -> None:
    svc.audit.record("user", outcome, subject=user.username, actor=actor, **extra)


def registration_options(
    svc: Services, user: User, rp: RelyingParty
) -> tuple[str, Challenge]:
    """The options for navigator.credentials.create (JSON) and the
    challenge to keep; InvalidInput past ``MAX_PASSKEYS``."""
    existing = svc.store.passkeys.of_user(user.id)
    if len(existing) >= MAX_PASSKEYS:
        raise InvalidInput(f"You have {MAX_PASSKEYS} passkeys; remove one first.")
    options = generate_registration_options(
        rp_id=rp.id,
        rp_name=RP_NAME,
        user_id=f"linksvc-user-{user.id}".encode(),
        user_name=user.username,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=_descriptors(existing),
    )
    challenge = Challenge(bytes_to_base64url(options.challenge), _now_ms())
    return options_to_json(options), challenge


def register(
    svc: Services,
    user: User,
    rp: RelyingParty,
    answer: str,
    challenge: Challenge,
    name: str,
) -> Passkey:
    """Check the authenticator's answer and keep its public key."""
    name = printable(name.strip())[:64] or "Passkey"
    if not challenge.fresh():
        raise InvalidInput("That took too long; add the passkey again.")
    if len(answer) > 64 * 1024:
        raise InvalidInput("That is not a passkey's answer.")
    try:
        verified = verify_registration_response(
            credential=answer,
            expected_challenge=base64url_to_bytes(challenge.value),
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(f"The passkey could not be checked: {exc}") from None
    if svc.store.passkeys.count(user.id) >= MAX_PASSKEYS:
        raise InvalidInput(f"You have {MAX_PASSKEYS} passkeys; remove one first.")
    key = svc.store.passkeys.add(
        user.id,
        bytes_to_base64url(verified.credential_id),
        bytes_to_base64url(verified.credential_public_key),
        verified.sign_count,
        name,
    )
    _record(svc, "passkey added", user, user.username, detail=name)
    return key


def authentication_options(
    svc: Services, rp: RelyingParty, user: User | None = None
) -> tuple[str, Challenge]:
    """Options for navigator.credentials.get: any of this site's passkeys
    (a sign-in by passkey alone), or ``user``'s (their second step)."""
    allowed = None
    if user is not None:
        allowed = _descriptors(svc.store.passkeys.of_user(user.id))
    options = generate_authentication_options(
        rp_id=rp.id,
        allow_credentials=allowed,
        user_verification=(
            UserVerificationRequirement.REQUIRED
            if user is None
            else UserVerificationRequirement.PREFERRED
        ),
    )
    challenge = Challenge(bytes_to_base64url(options.challenge), _now_ms())
    return options_to_json(options), challenge


def authenticate(
    svc: Services,
    rp: RelyingParty,
    answer: str,
    challenge: Challenge,
    user: User | None = None,
) -> User:
    """The person whose passkey signed ``challenge``. Alone (``user`` None)
    the device must have verified them; as a second step the key must be
    ``user``'s. SignInFailed otherwise, saying why."""
    if not challenge.fresh():
        raise SignInFailed("That took too long; try again.")
    try:
        credential_id = str(json.loads(answer)["rawId"])[:1400]
    except (ValueError, KeyError, TypeError):
        raise SignInFailed("That is not a passkey's answer.") from None
    key = svc.store.passkeys.by_credential(credential_id)
    if key is None or (user is not None and key.user_id != user.id):
        raise SignInFailed("This passkey is not registered here.")
    try:
        verified = verify_authentication_response(
            credential=answer,
            expected_challenge=base64url_to_bytes(challenge.value),
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            credential_public_key=base64url_to_bytes(key.public_key),
            credential_current_sign_count=key.sign_count,
            require_user_verification=user is None,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise SignInFailed(f"The passkey's answer was refused: {exc}") from None
    if not svc.store.passkeys.use(
        key.id, verified.new_sign_count, challenge.made_ms, _now_ms()
    ):
        raise SignInFailed("That answer was used already; try again.")
    owner = svc.store.users.get(key.user_id)
    if owner is None or owner.disabled:
        raise SignInFailed("This account is disabled here.")
    return owner


def rename(svc: Services, user: User, key_id: str, name: str) -> None:
    name = printable(name.strip())[:64]
    if not name or not svc.store.passkeys.rename(user.id, key_id, name):
        raise InvalidInput("There is no such passkey, or the name is empty.")
    _record(svc, "passkey renamed", user, user.username, detail=name)


def remove(svc: Services, user: User, key_id: str) -> None:
    key = svc.store.passkeys.get(user.id, key_id)
    if key is None or not svc.store.passkeys.remove(user.id, key_id):
        raise InvalidInput("There is no such passkey.")
    _record(svc, "passkey removed", user, user.username, detail=key.name)


def _descriptors(keys: list[Passkey]) -> list[PublicKeyCredentialDescriptor]:
    """The credentials ``keys`` name, as WebAuthn's options list them."""
    return [
        PublicKeyCredentialDescriptor(id=base64url_to_bytes(k.credential_id))
        for k in keys
    ]


def _now_ms() -> int:
    return int(time.time() * 1000)
