"""The LDAP / Active Directory client (python-ldap); no Flask.

A sign-in finds the person's entry as the reader (``ldap_bind_dn``, or
anonymously), then binds as that entry with the password given: the
directory, never linksvc, judges it. Every connection is encrypted
(ldaps:// or StartTLS) unless ``ldap_allow_plain`` says otherwise (tests).

python-ldap is a C library whose calls block their thread, so under the
gevent worker each call goes to a real thread (files/offload.py). It is an
optional dependency (``pip install 'linksvc[ldap]'``: it builds against
libldap), imported only when ``ldap_url`` is set.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import ConfigError
from .config import Settings
from .core.errors import DirectoryUnavailable
from .files.offload import offload


@dataclass(frozen=True)
class Person:
    """What the directory says of someone."""

    id: str
    dn: str
    username: str
    email: str
    groups: tuple[str, ...]


def _ldap() -> Any:
    try:
        import ldap
        import ldap.filter
    except ImportError:
        raise ConfigError(
            "ldap_url is set but python-ldap is not installed: "
            "pip install 'linksvc[ldap]' (it needs libldap2-dev and libsasl2-dev)."
        ) from None
    return ldap


class Directory:
    """One directory, as the settings describe it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.ldap = _ldap()
        try:
            self.bind_password = os.environ.get("LINKSVC_LDAP_BIND_PASSWORD", "")
            if not self.bind_password and settings.ldap_bind_password_file:
                path = Path(settings.ldap_bind_password_file)
                self.bind_password = path.read_text().strip()
        except OSError as exc:
            raise ConfigError(f"The setting 'ldap_bind_password_file': {exc}") from None
        if settings.ldap_bind_dn and not self.bind_password:
            raise ConfigError(
                "ldap_bind_dn needs its password: set LINKSVC_LDAP_BIND_PASSWORD "
                "or ldap_bind_password_file."
            )

    # -- what the features ask ------------------------------------------------

    def authenticate(self, username: str, password: str) -> Person | None:
        """The person if ``password`` is theirs, else None (unknown name,
        wrong password, or more than one entry for the name).
        DirectoryUnavailable when the directory cannot say."""
        if not password or len(password) > 1024:
            return None  # an empty password is an anonymous bind: never a yes
        return offload(self._authenticate, username, password)

    def find(self, person_id: str) -> Person | None:
        """The person whose stable id is ``person_id``, or None if gone."""
        return offload(self._find, person_id)

    # -- on a real thread -----------------------------------------------------

    def _authenticate(self, username: str, password: str) -> Person | None:
        ldap = self.ldap
        found = self._search_people(
            self.settings.ldap_user_filter.format(
                username=ldap.filter.escape_filter_chars(username)
            )
        )
        if len(found) != 1:
            return None
        dn = found[0][0]
        conn = self._connect()
        try:
            conn.simple_bind_s(dn, password)
        except ldap.INVALID_CREDENTIALS:
            return None
        except ldap.LDAPError as exc:
            raise DirectoryUnavailable(_said(exc)) from None
        finally:
            conn.unbind_s()
        return self._person(*found[0])

    def _find(self, person_id: str) -> Person | None:
        ldap = self.ldap
        attribute = self.settings.ldap_id_attribute
        found = self._search_people(
            f"({attribute}={ldap.filter.escape_filter_chars(person_id)})"
        )
        return self._person(*found[0]) if len(found) == 1 else None

    def _search_people(self, query: str) -> list[tuple[str, dict]]:
        s = self.settings
        attributes = [
            s.ldap_id_attribute,
            s.ldap_username_attribute,
            s.ldap_email_attribute,
        ]
        return self._search(s.ldap_user_base, query, attributes, limit=2)

    def _person(self, dn: str, attributes: dict) -> Person | None:
        s = self.settings
        ident = _first(attributes, s.ldap_id_attribute)
        name = _first(attributes, s.ldap_username_attribute)
        if not ident or not name:
            return None
        groups: tuple[str, ...] = ()
        if s.ldap_group_base:
            query = s.ldap_group_filter.format(
                dn=self.ldap.filter.escape_filter_chars(dn)
            )
            found = self._search(
                s.ldap_group_base, query, [s.ldap_group_attribute], limit=1000
            )
            groups = tuple(
                sorted(
                    g
                    for _, attrs in found
                    if (g := _first(attrs, s.ldap_group_attribute))
                )
            )
        return Person(
            ident, dn, name, _first(attributes, s.ldap_email_attribute), groups
        )

    def _search(
        self, base: str, query: str, attributes: list[str], limit: int
    ) -> list[tuple[str, dict]]:
        ldap = self.ldap
        conn = self._connect()
        try:
            if self.settings.ldap_bind_dn:
                conn.simple_bind_s(self.settings.ldap_bind_dn, self.bind_password)
            found = conn.search_ext_s(
                base,
                ldap.SCOPE_SUBTREE,
                query,
                attributes,
                sizelimit=limit,
                timeout=self.settings.ldap_timeout,
            )
        except ldap.SIZELIMIT_EXCEEDED:
            return [("", {})] * 2  # more than one: never a guess
        except ldap.NO_SUCH_OBJECT:
            return []
        except ldap.LDAPError as exc:
            raise DirectoryUnavailable(_said(exc)) from None
        finally:
            conn.unbind_s()
        return [(dn, attrs) for dn, attrs in found if dn]  # no referrals

    def _connect(self) -> Any:
        ldap, s = self.ldap, self.settings
        conn = ldap.initialize(s.ldap_url)
        conn.set_option(ldap.OPT_PROTOCOL_VERSION, 3)
        conn.set_option(ldap.OPT_REFERRALS, 0)
        conn.set_option(ldap.OPT_NETWORK_TIMEOUT, s.ldap_timeout)
        conn.set_option(ldap.OPT_TIMEOUT, s.ldap_timeout)
        conn.set_option(ldap.OPT_X_TLS_REQUIRE_CERT, ldap.OPT_X_TLS_DEMAND)
        if s.ldap_ca_file:
            conn.set_option(ldap.OPT_X_TLS_CACERTFILE, s.ldap_ca_file)
        conn.set_option(ldap.OPT_X_TLS_NEWCTX, 0)
        if s.ldap_url.startswith("ldap://") and s.ldap_starttls:
            try:
                conn.start_tls_s()
            except ldap.LDAPError as exc:
                raise DirectoryUnavailable(f"StartTLS failed: {_said(exc)}") from None
        return conn


def _first(attributes: dict, name: str) -> str:
    for key, values in attributes.items():
        if key.lower() == name.lower() and values:
            return values[0].decode("utf-8", "replace")
    return ""


def _said(exc: Exception) -> str:
    info = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
    return str(info.get("desc") or type(exc).__name__)
