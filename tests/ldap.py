"""A real OpenLDAP server for the tests: Debian's ``slapd``, configured in a
temporary folder (slapd.conf, an mdb database, a self-signed certificate
for StartTLS) on a free 127.0.0.1 port, with a few people and groups.

Skips with the reason where slapd or python-ldap is missing; fails instead
under LINKSVC_REQUIRE_SERVICES=1 (CI installs both)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from .services import require_binary
from .services import stop_process

BASE = "dc=example,dc=org"
ROOT_DN = f"cn=admin,{BASE}"
ROOT_PASSWORD = "root-secret"
READER_DN = f"cn=reader,{BASE}"
READER_PASSWORD = "reader-secret"
PEOPLE = f"ou=people,{BASE}"
GROUPS = f"ou=groups,{BASE}"

CONFIG = """\
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
pidfile {root}/slapd.pid
modulepath /usr/lib/ldap
moduleload back_mdb
TLSCertificateFile {root}/cert.pem
TLSCertificateKeyFile {root}/key.pem
database mdb
maxsize 16777216
suffix "{base}"
rootdn "{root_dn}"
rootpw {root_password}
directory {root}/db
access to attrs=userPassword
  by anonymous auth
  by * none
access to *
  by dn.exact="{reader}" read
  by self read
  by * none
"""


def python_ldap():
    try:
        import ldap
        import ldap.modlist
    except ImportError:
        message = "python-ldap is not installed (pip install 'linksvc[ldap]')"
        if os.environ.get("LINKSVC_REQUIRE_SERVICES") == "1":
            pytest.fail(message + " (LINKSVC_REQUIRE_SERVICES=1)")
        pytest.skip(message + "; make install tries it, .ci/run has its build deps")
    return ldap


class Slapd:
    """A running slapd; ``add_person``, ``add_group`` and ``delete`` change
    what it holds (as its administrator)."""

    def __init__(self, root: Path) -> None:
        require_binary("slapd", "Debian's slapd")
        self.ldap = python_ldap()
        self.root = root
        (root / "db").mkdir(parents=True)
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                str(root / "key.pem"),
                "-out",
                str(root / "cert.pem"),
                "-days",
                "2",
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
            ],
            check=True,
            capture_output=True,
        )
        self.ca_file = str(root / "cert.pem")
        (root / "slapd.conf").write_text(
            CONFIG.format(
                root=root,
                base=BASE,
                root_dn=ROOT_DN,
                root_password=ROOT_PASSWORD,
                reader=READER_DN,
            )
        )
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"ldap://127.0.0.1:{self.port}"
        self.log = open(root / "slapd.log", "wb")
        self.proc = subprocess.Popen(
            ["slapd", "-f", str(root / "slapd.conf"), "-h", self.url + "/", "-d", "0"],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError((root / "slapd.log").read_text()) from None
                time.sleep(0.05)
        self._add(
            BASE,
            objectClass=[b"dcObject", b"organization"],
            o=b"Example",
            dc=b"example",
        )
        self._add(
            READER_DN,
            objectClass=[b"organizationalRole", b"simpleSecurityObject"],
            userPassword=READER_PASSWORD.encode(),
        )
        self._add(PEOPLE, objectClass=[b"organizationalUnit"], ou=b"people")
        self._add(GROUPS, objectClass=[b"organizationalUnit"], ou=b"groups")

    def settings(self, **extra) -> dict:
        """linksvc settings for this directory (StartTLS with its CA)."""
        return {
            "ldap_url": self.url,
            "ldap_ca_file": self.ca_file,
            "ldap_bind_dn": READER_DN,
            "ldap_user_base": PEOPLE,
            "ldap_group_base": GROUPS,
            **extra,
        }

    def _admin(self):
        conn = self.ldap.initialize(self.url)
        conn.simple_bind_s(ROOT_DN, ROOT_PASSWORD)
        return conn

    def _add(self, dn: str, **attributes) -> None:
        values = {k: v if isinstance(v, list) else [v] for k, v in attributes.items()}
        conn = self._admin()
        try:
            conn.add_s(dn, self.ldap.modlist.addModlist(values))
        finally:
            conn.unbind_s()

    def add_person(self, uid: str, password: str, mail: str = "") -> str:
        dn = f"uid={uid},{PEOPLE}"
        extra = {"mail": mail.encode()} if mail else {}
        self._add(
            dn,
            objectClass=[b"inetOrgPerson"],
            uid=uid.encode(),
            cn=uid.encode(),
            sn=uid.encode(),
            userPassword=password.encode(),
            **extra,
        )
        return dn

    def add_group(self, cn: str, *members: str) -> str:
        dn = f"cn={cn},{GROUPS}"
        self._add(
            dn,
            objectClass=[b"groupOfNames"],
            cn=cn.encode(),
            member=[m.encode() for m in members] or [READER_DN.encode()],
        )
        return dn

    def set_members(self, group_dn: str, *members: str) -> None:
        conn = self._admin()
        try:
            conn.modify_s(
                group_dn,
                [
                    (
                        self.ldap.MOD_REPLACE,
                        "member",
                        [m.encode() for m in members] or [READER_DN.encode()],
                    )
                ],
            )
        finally:
            conn.unbind_s()

    def delete(self, dn: str) -> None:
        conn = self._admin()
        try:
            conn.delete_s(dn)
        finally:
            conn.unbind_s()

    def stop(self) -> None:
        stop_process(self.proc, self.log)
