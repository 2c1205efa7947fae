"""``linksvc backup`` while the server works, ``linksvc restore`` into a new
instance: an old link downloads there, and its count went with it."""

from __future__ import annotations

import json
import os
import subprocess
import threading

import pytest
import requests

from ..conftest import launch
from ..conftest import LINKSVC
from ..services import postgres_database
from ..services import require

pytestmark = pytest.mark.slow


def _link(live, *extra: str) -> str:
    made = live.cli("link", "create", "readme.txt", "--user", "admin", *extra)
    assert made.returncode == 0, made.stderr
    return made.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_backup_under_load_restores_into_a_new_instance(tmp_path, tree, database):
    extra: dict = {"access_log": False}
    databases = []
    if database == "postgresql":
        require("PostgreSQL", "127.0.0.1", 5432)
        databases = [postgres_database(), postgres_database()]
        extra["database_url"] = databases[0].__enter__()
    live = launch(tmp_path, tree, "old", **extra)
    try:
        limited = _link(live, "--max-downloads", "2")
        assert requests.get(limited, timeout=10).status_code == 200  # 1 of 2
        busy = _link(live)
        stop = threading.Event()
        served = []

        def load() -> None:
            with requests.Session() as http:
                # Steady, not flat out: four clients that saturated both
                # cores made each CLI start here take seconds.
                while not stop.wait(0.01):
                    served.append(http.get(busy, timeout=10).status_code)

        workers = [threading.Thread(target=load) for _ in range(4)]
        for w in workers:
            w.start()
        made_during = [_link(live) for _ in range(3)]
        dest = tmp_path / "backup"
        backed = live.cli("backup", str(dest))
        stop.set()
        for w in workers:
            w.join()
        assert backed.returncode == 0, backed.stderr
        assert served and set(served) == {200}  # nothing failed meanwhile
        manifest = json.loads((dest / "manifest.json").read_text())
        assert manifest["database"] == database and manifest["keys"] is True
        assert oct((dest / "secret_keys").stat().st_mode & 0o777) == "0o600"
    finally:
        live.stop()

    new_instance = tmp_path / "new-instance"
    settings = tmp_path / "restore.toml"
    lines = [f'protected_dir = "{tree}"', f'instance_dir = "{new_instance}"']
    restored_extra: dict = {"access_log": False, "instance_dir": str(new_instance)}
    if database == "postgresql":
        url = databases[1].__enter__()
        lines.append(f'database_url = "{url}"')
        restored_extra["database_url"] = url
    settings.write_text("\n".join(lines) + "\n")
    env = {**os.environ, "LINKSVC_SETTINGS": str(settings)}
    env.pop("LINKSVC_SECRET_KEYS", None)
    done = subprocess.run(
        [*LINKSVC, "restore", str(dest)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    # Not twice: the instance is no longer empty.
    again = subprocess.run(
        [*LINKSVC, "restore", str(dest)], env=env, capture_output=True, text=True
    )
    assert again.returncode != 0 and "new instance" in again.stderr + again.stdout

    restored = launch(tmp_path, tree, "new", init=False, **restored_extra)
    try:
        port = restored.port

        def here(url: str) -> str:
            return f"http://127.0.0.1:{port}/d/" + url.rsplit("/d/", 1)[1]

        # The old limited link: its second download here, then used up.
        assert requests.get(here(limited), timeout=10).status_code == 200
        assert requests.get(here(limited), timeout=10).status_code == 410
        for url in made_during:
            assert requests.get(here(url), timeout=10).status_code == 200
    finally:
        restored.stop()
        for db in databases:
            db.__exit__(None, None, None)
