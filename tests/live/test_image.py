"""The image (Containerfile) and deploy/compose.yaml, proved as far as this
machine allows.

No registry is reachable and podman cannot start a container here (crun:
setrlimit RLIMIT_NPROC), so the image's root filesystem is built from
Debian's packages by mmdebstrap and linksvc installed into it by the same
deploy/image/install.sh steps the Containerfile runs; podman imports it with
the Containerfile's settings (user, entry point, environment, volumes), and
the entry point runs in the imported image's files, read-only, as its user,
with its two volumes bound: the way a container runtime would, minus the
other namespaces. The compose file is checked against the Compose
specification's JSON schema and by docker-compose itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import time
from pathlib import Path
from typing import IO

import pytest
import requests
import yaml

from linksvc import config

from ..conftest import free_port
from ..services import require_binary
from ..services import REQUIRED
from ..services import stop_process

ROOT = Path(__file__).resolve().parents[2]
CONTAINERFILE = ROOT / "Containerfile"
INSTALL = ROOT / "deploy" / "image" / "install.sh"
COMPOSE = ROOT / "deploy" / "compose.yaml"
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
#: Debian's docker-compose package carries the Compose specification's schema.
COMPOSE_SCHEMA = Path("/usr/lib/python3/dist-packages/compose/config/compose_spec.json")
#: The base (Debian and linksvc's dependencies) is kept between runs, by the
#: hash of what makes it, as an image builder keeps a layer.
CACHE = Path(os.environ.get("LINKSVC_IMAGE_CACHE", "/var/tmp/linksvc-image-cache"))
SUITE = "bookworm"  # the Containerfile's FROM debian:bookworm-slim


def _instructions() -> list[tuple[str, str]]:
    """The Containerfile's instructions, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", CONTAINERFILE.read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def _one(word: str) -> str:
    (value,) = [rest for w, rest in _instructions() if w == word]
    return value


def _env() -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in shlex.split(_one("ENV")))


def test_the_containerfile_runs_only_install_sh_steps_and_the_settings_agree():
    runs = [rest for word, rest in _instructions() if word == "RUN"]
    steps = [re.sub(r"^--mount=\S+\s+", "", run) for run in runs]
    assert steps == [
        "/usr/local/lib/linksvc/install.sh system",
        "/usr/local/lib/linksvc/install.sh deps /src",
        "/usr/local/lib/linksvc/install.sh app /src",
    ]
    assert _one("FROM") == f"docker.io/library/debian:{SUITE}-slim"
    assert _one("USER") == "linksvc"
    env = _env()
    # The environment is settings linksvc knows, and they validate.
    settings = config.validate(_settings_of(env), ROOT)
    assert settings.instance_dir == "/var/lib/linksvc"
    assert settings.protected_dir == "/srv/linksvc/protected"
    assert json.loads(_one("VOLUME")) == [settings.instance_dir, settings.protected_dir]
    assert json.loads(_one("ENTRYPOINT")) == ["/opt/linksvc/bin/linksvc", "serve"]
    assert "--init" in json.loads(_one("CMD"))
    install = INSTALL.read_text()
    assert f"INSTANCE={settings.instance_dir}\n" in install
    assert f"FILES={settings.protected_dir}\n" in install


def _interpolated(value: str) -> str:
    """``${VAR:-default}`` as its default, ``${VAR:?error}`` as a value."""

    def one(match: re.Match) -> str:
        return match[3] if match[2] == ":-" else "example"

    return re.sub(r"\$\{(\w+)(:[-?])([^}]*)\}", one, value)


def _settings_of(env: dict[str, str], interpolate: bool = False) -> dict[str, str]:
    """The settings that ``LINKSVC_*`` variables give."""
    return {
        k.removeprefix("LINKSVC_").lower(): _interpolated(v) if interpolate else v
        for k, v in env.items()
        if k.startswith("LINKSVC_")
    }


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_yaml_is_valid_by_the_compose_specification():
    import jsonschema

    if not COMPOSE_SCHEMA.is_file():
        message = f"{COMPOSE_SCHEMA} is missing (Debian package docker-compose)"
        if REQUIRED:
            pytest.fail(message + " (LINKSVC_REQUIRE_SERVICES=1)")
        pytest.skip(message + "; .ci/run installs it")
    # Its "$schema" is draft 2019-09 (spelled with a "#" jsonschema does
    # not look up): named here.
    validator = jsonschema.Draft201909Validator(json.loads(COMPOSE_SCHEMA.read_text()))
    validator.validate(_compose())
    # The schema does refuse what is not Compose: a misspelt key.
    wrong = _compose()
    wrong["services"]["linksvc"]["read_onyl"] = True
    with pytest.raises(jsonschema.ValidationError, match="read_onyl"):
        validator.validate(wrong)
    # And as docker-compose reads it, variables interpolated: it needs the
    # database password from deploy/.env and says so without it.
    require_binary("docker-compose", "Debian package docker-compose")
    run = ["docker-compose", "-f", str(COMPOSE), "config", "-q"]
    env = {k: v for k, v in os.environ.items() if k != "POSTGRES_PASSWORD"}
    refused = subprocess.run(
        run, env=env, capture_output=True, text=True, cwd=COMPOSE.parent
    )
    assert refused.returncode != 0
    assert "set POSTGRES_PASSWORD in deploy/.env" in refused.stderr
    env["POSTGRES_PASSWORD"] = "example"
    checked = subprocess.run(
        run, env=env, capture_output=True, text=True, cwd=COMPOSE.parent
    )
    assert checked.returncode == 0, checked.stderr


def test_compose_services_agree_with_the_settings_the_image_and_nginx_conf():
    compose = _compose()
    services = compose["services"]
    assert set(services) == {"linksvc", "nginx", "postgres", "redis"}
    app = services["linksvc"]
    env = app["environment"]
    # Every variable is a setting, and the values validate (the password
    # placeholder filled in as docker-compose would).
    assert all(k.startswith("LINKSVC_") for k in env)
    settings = config.validate(
        {**_settings_of(_env()), **_settings_of(env, interpolate=True)}, ROOT
    )
    assert settings.database_url.startswith("postgresql+psycopg://linksvc:")
    assert "@postgres:5432/linksvc" in settings.database_url
    assert settings.ratelimit_storage_url == "redis://redis:6379/0"
    assert settings.offload == "nginx" and settings.trusted_proxies == 1
    # The volumes are the image's, and nginx sees the files where its
    # internal location (deploy/nginx.conf, used unchanged) looks for them.
    assert app["volumes"] == [
        f"instance:{settings.instance_dir}",
        f"files:{settings.protected_dir}",
    ]
    assert app["read_only"] is True and "/tmp" in app["tmpfs"]
    conf = NGINX_CONF.read_text()
    internal = re.search(r"location (\S+)/ \{\s*internal;\s*alias (\S+);", conf)
    assert internal[1] == settings.offload_prefix
    assert internal[2] == settings.protected_dir + "/"
    nginx = services["nginx"]
    assert nginx["network_mode"] == "service:linksvc"
    assert "./nginx.conf:/etc/nginx/nginx.conf:ro" in nginx["volumes"]
    assert f"files:{settings.protected_dir}:ro" in nginx["volumes"]
    # linksvc listens where nginx.conf's upstream points (one namespace),
    # and the published port is the one nginx listens on.
    command = app["command"]
    host, port = (
        command[command.index("--host") + 1],
        command[command.index("--port") + 1],
    )
    assert f"server {host}:{port} " in conf
    assert f"listen {app['ports'][0].split(':')[-1]};" in conf
    assert nginx["user"] == "10001:10001"
    assert "10001" in INSTALL.read_text()
    # Secrets come from deploy/.env, never the file itself.
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith(
        "${POSTGRES_PASSWORD:?"
    )
    assert app["healthcheck"]["test"][1:] == json.loads(
        re.search(r"CMD (\[.*\])", _one("HEALTHCHECK"))[1]
    )


# --- the image, built and run --------------------------------------------


def _require_root_tools() -> None:
    require_binary("mmdebstrap", "Debian package mmdebstrap")
    require_binary("podman", "Debian package podman")
    require_binary("unshare", "util-linux")
    if os.geteuid() != 0:
        message = "building the image's root filesystem needs root (mmdebstrap, chroot)"
        if REQUIRED:
            pytest.fail(message)
        pytest.skip(message)


def _build_env() -> dict[str, str]:
    """What the build steps see of the builder: its proxy CA and pip options."""
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root"}
    for name in ("PIP_DEFAULT_TIMEOUT", "PIP_INDEX_URL", "HTTPS_PROXY", "https_proxy"):
        if name in os.environ:
            env[name] = os.environ[name]
    env["PIP_CERT"] = "/etc/ssl/certs/ca-certificates.crt"
    return env


def _in_mount_namespace(script: str, log: Path) -> None:
    """Run a shell script in a mount namespace of its own (its mounts end
    with it), its output appended to ``log``."""
    with log.open("a") as out:
        done = subprocess.run(
            ["unshare", "--mount", "sh", "-c", script],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    assert done.returncode == 0, log.read_text()[-3000:]


def _in_build_root(root: Path, command: str, log: Path) -> None:
    """Run a build step in ``root``: as RUN does, with the pip cache and the
    builder's CA bundle mounted for the step only."""
    pip_cache = Path("/root/.cache/pip")
    pip_cache.mkdir(parents=True, exist_ok=True)
    (root / "root/.cache/pip").mkdir(parents=True, exist_ok=True)
    ca = "/etc/ssl/certs/ca-certificates.crt"
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in _build_env().items())
    script = (
        f"set -e; R={shlex.quote(str(root))}; mount -t proc proc $R/proc; "
        f"mount --bind {pip_cache} $R/root/.cache/pip; "
        f"mount --bind {ca} $R{ca}; "
        f"exec chroot $R env {env} {command}"
    )
    _in_mount_namespace(script, log)


def _base(log: Path) -> Path:
    """Debian plus linksvc's dependencies: the image's first two layers."""
    key = hashlib.sha256(
        INSTALL.read_bytes() + (ROOT / "pyproject.toml").read_bytes()
    ).hexdigest()[:16]
    base = CACHE / key
    if (base / "ready").is_file():
        return base / "rootfs"
    if CACHE.is_dir():
        shutil.rmtree(CACHE)  # older bases: one is kept
    building = CACHE / f"{key}.building"
    building.mkdir(parents=True)
    rootfs = building / "rootfs"
    packages = subprocess.run(
        [str(INSTALL), "packages"], capture_output=True, text=True, check=True
    ).stdout.split()
    with log.open("a") as out:
        made = subprocess.run(
            [
                "mmdebstrap",
                "--variant=minbase",
                "--mode=root",
                f"--include={','.join(packages)}",
                SUITE,
                str(rootfs),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    assert made.returncode == 0, log.read_text()[-3000:]
    # COPY deploy/image/install.sh …; COPY pyproject.toml /src/pyproject.toml
    (rootfs / "usr/local/lib/linksvc").mkdir(parents=True)
    shutil.copy2(INSTALL, rootfs / "usr/local/lib/linksvc/install.sh")
    (rootfs / "src").mkdir()
    shutil.copy2(ROOT / "pyproject.toml", rootfs / "src/pyproject.toml")
    _in_build_root(rootfs, "/usr/local/lib/linksvc/install.sh deps /src", log)
    (building / "ready").touch()
    building.rename(base)
    return base / "rootfs"


def _changes() -> list[str]:
    """The Containerfile's image settings as ``podman import --change``s."""
    changes = []
    for word, rest in _instructions():
        if word in (
            "USER",
            "WORKDIR",
            "ENTRYPOINT",
            "CMD",
            "VOLUME",
            "EXPOSE",
            "STOPSIGNAL",
        ):
            changes.append(f"{word} {rest}")
        elif word == "ENV":
            changes += [f"ENV {pair}" for pair in shlex.split(rest)]
    return changes


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    """The image, imported into podman: its name and its config."""
    _require_root_tools()
    work = tmp_path_factory.mktemp("image")
    log = work / "build.log"
    base = _base(log)
    # The last layer on top of the kept base, in an overlay of its own:
    # COPY pyproject.toml README.md linksvc /src/; RUN install.sh app /src.
    upper, scratch, merged = work / "upper", work / "work", work / "merged"
    for d in (upper, scratch, merged):
        d.mkdir()
    src = upper / "src"
    src.mkdir()
    shutil.copy2(ROOT / "pyproject.toml", src)
    shutil.copy2(ROOT / "README.md", src)
    shutil.copytree(
        ROOT / "linksvc", src / "linksvc", ignore=shutil.ignore_patterns("__pycache__")
    )
    name = f"localhost/linksvc-test:{work.name}"
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in _build_env().items())
    changes = " ".join(f"--change {shlex.quote(c)}" for c in _changes())
    script = f"""
set -e
R={merged}
mount -t overlay overlay -o lowerdir={base},upperdir={upper},workdir={scratch} $R
mkdir -p /root/.cache/pip
mount -t proc proc $R/proc
mount --bind /root/.cache/pip $R/root/.cache/pip
mount --bind /etc/ssl/certs/ca-certificates.crt $R/etc/ssl/certs/ca-certificates.crt
chroot $R env {env} /usr/local/lib/linksvc/install.sh app /src
umount $R/proc $R/root/.cache/pip $R/etc/ssl/certs/ca-certificates.crt
tar --numeric-owner -C $R -c . | podman import {changes} - {name}
"""
    _in_mount_namespace(script, log)
    inspected = subprocess.run(
        ["podman", "image", "inspect", name, "--format", "{{json .Config}}"],
        capture_output=True,
        text=True,
        check=True,
    )
    mounted = subprocess.run(
        ["podman", "image", "mount", name], capture_output=True, text=True, check=True
    )
    yield name, json.loads(inspected.stdout), Path(mounted.stdout.strip())
    subprocess.run(["podman", "image", "unmount", name], capture_output=True)
    subprocess.run(["podman", "image", "rm", "-f", name], capture_output=True)


class Container:
    """The image's files as a container's root: read-only, proc, /dev, a
    tmpfs /tmp and the two volumes; processes run as the image's user."""

    def __init__(
        self, root: Path, config_: dict, volumes: dict[str, Path], env: dict[str, str]
    ):
        self.root, self.config, self.volumes, self.extra_env = (
            root,
            config_,
            volumes,
            env,
        )

    def _script(self, argv: list[str]) -> list[str]:
        env = dict(e.split("=", 1) for e in self.config.get("Env") or [])
        env.setdefault(
            "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        )
        env.update(self.extra_env)
        user = self.config["User"]
        binds = "".join(
            f"mount --bind {src} $R{target}\n" for target, src in self.volumes.items()
        )
        assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        command = " ".join(shlex.quote(a) for a in argv)
        script = f"""
set -e
R={self.root}
mount --bind $R $R
mount -o remount,bind,ro $R
mount -t proc proc $R/proc
mount --rbind /dev $R/dev
mount -t tmpfs -o mode=1777 tmpfs $R/tmp
{binds}
exec chroot --userspec={user}:{user} $R env -i -C {self.config["WorkingDir"]} \
{assignments} {command}
"""
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script]

    def run(self, *argv: str, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(
            self._script(list(argv)), capture_output=True, text=True, timeout=60, **kw
        )

    def start(self, *argv: str, log: Path) -> tuple[subprocess.Popen, IO[str]]:
        out = log.open("w")
        return subprocess.Popen(
            self._script(list(argv)), stdout=out, stderr=subprocess.STDOUT
        ), out


@pytest.mark.slow
def test_the_image_serves_logs_in_shares_downloads_and_reports_healthy(image, tmp_path):
    name, conf, root = image
    assert conf["User"] == "linksvc"
    assert conf["Entrypoint"] == ["/opt/linksvc/bin/linksvc", "serve"]
    assert set(conf["Volumes"]) == {"/var/lib/linksvc", "/srv/linksvc/protected"}
    # Nothing of linksvc's source is left in the image, and it is small.
    assert not (root / "src").exists()
    venv = subprocess.run(
        ["du", "-sm", str(root / "opt/linksvc")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(venv.stdout.split()[0]) < 250

    # The volumes, as a runtime makes them: owned by the image's user.
    uid = int((root / "etc/passwd").read_text().split("linksvc:x:")[1].split(":")[0])
    assert uid == 10001
    instance, files = tmp_path / "instance", tmp_path / "files"
    for d in (instance, files):
        d.mkdir()
        os.chown(d, uid, uid)
    # A new named volume takes the mode of the image's folder.
    instance.chmod((root / "var/lib/linksvc").stat().st_mode & 0o777)
    payload = os.urandom(200_000)
    (files / "contract.pdf").write_bytes(payload)
    os.chown(files / "contract.pdf", uid, uid)
    port = free_port()
    box = Container(
        root,
        conf,
        {"/var/lib/linksvc": instance, "/srv/linksvc/protected": files},
        {"LINKSVC_HEALTHCHECK_URL": f"http://127.0.0.1:{port}/readyz"},
    )
    # The root filesystem is read-only to the server's user.
    refused = box.run("sh", "-c", "touch /opt/linksvc/x")
    assert refused.returncode != 0 and "Read-only file system" in refused.stderr

    cmd = conf["Cmd"]
    cmd = [*cmd[: cmd.index("--host")], "--host", "127.0.0.1", "--port", str(port)]
    server, server_log = box.start(
        *conf["Entrypoint"], *cmd, log=tmp_path / "serve.log"
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(base + "/readyz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
        # --init made the keys and the database on the instance volume.
        assert (instance / "secret_keys").exists()
        assert (instance / "linksvc.sqlite3").stat().st_uid == uid

        # The HEALTHCHECK command, as the runtime would run it.
        check = json.loads(re.search(r"CMD (\[.*\])", _one("HEALTHCHECK"))[1])
        healthy = box.run(*check)
        assert healthy.returncode == 0, healthy.stderr

        added = box.run(
            "linksvc",
            "user",
            "add",
            "ada",
            "--admin",
            "--password-stdin",
            input="ada-password-12\n",
        )
        assert added.returncode == 0, added.stderr

        web = requests.Session()
        token = re.search(
            r'name="csrf_token" type="hidden" value="([^"]+)"',
            web.get(base + "/login").text,
        )[1]
        logged_in = web.post(
            base + "/login",
            data={
                "username": "ada",
                "password": "ada-password-12",
                "csrf_token": token,
            },
            allow_redirects=False,
        )
        assert logged_in.status_code in (302, 303)
        form = web.get(base + "/share/contract.pdf")
        assert form.status_code == 200
        token = re.search(
            r'name="csrf_token" type="hidden" value="([^"]+)"', form.text
        )[1]
        made = web.post(
            base + "/share/contract.pdf", data={"expires": "1h", "csrf_token": token}
        )
        assert made.status_code == 201
        url = re.search(r"(/d/[A-Za-z0-9._-]+)", made.text)[1]
        got = requests.get(base + url, timeout=10)
        assert got.status_code == 200 and got.content == payload
        assert got.headers["Content-Disposition"] == "attachment; filename=contract.pdf"
        web.close()  # an idle keep-alive connection holds a graceful stop
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        finally:
            stop_process(server, server_log)
    # SIGTERM stopped it cleanly, and the download is in the audit.
    said = (tmp_path / "serve.log").read_text()
    assert server.returncode == 0, said[-3000:]
    assert "open to others" not in said
    audit = box.run("linksvc", "audit", "export", "--format", "jsonl")
    assert audit.returncode == 0, audit.stderr
    assert "contract.pdf" in audit.stdout and "download" in audit.stdout
