"""A real ClamAV daemon for the tests: Debian's ``clamd`` with a signature
database made here (the EICAR test file's hash: there is no signature
download on these machines), listening on a unix socket in a temporary
folder. Skips with the reason where clamd is missing; fails instead under
LINKSVC_REQUIRE_SERVICES=1 (CI installs clamav-daemon)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from pathlib import Path

from .services import require_binary
from .services import stop_process

#: The EICAR anti-virus test file, put together here so no scanner flags
#: this source file itself.
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
SIGNATURE = "Linksvc-Test-Eicar"


class Clamd:
    def __init__(self, root: Path) -> None:
        clamd = "/usr/sbin/clamd"
        require_binary(clamd, "Debian's clamav-daemon")
        self.root = root
        (root / "db").mkdir(parents=True)
        digest = hashlib.md5(EICAR).hexdigest()  # noqa: S324 (ClamAV's .hdb format)
        (root / "db" / "linksvc-test.hdb").write_text(
            f"{digest}:{len(EICAR)}:{SIGNATURE}\n"
        )
        self.socket = str(root / "clamd.sock")
        (root / "clamd.conf").write_text(
            "Foreground yes\n"
            f"LocalSocket {self.socket}\n"
            f"DatabaseDirectory {root / 'db'}\n"
            f"PidFile {root / 'clamd.pid'}\n"
            "LogTime no\n"
            "StreamMaxLength 64M\n"
        )
        self.log = open(root / "clamd.log", "wb")
        self.proc = subprocess.Popen(
            [clamd, "--config-file", str(root / "clamd.conf")],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while not os.path.exists(self.socket):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError((root / "clamd.log").read_text())
            time.sleep(0.1)

    def stop(self) -> None:
        stop_process(self.proc, self.log)
