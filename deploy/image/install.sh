#!/bin/sh
# How linksvc is installed into its image: the Containerfile runs these
# steps, and so does tests/live/test_image.py inside a root filesystem that
# mmdebstrap builds from the same Debian packages, so the two cannot drift.
#
#   install.sh packages      print the Debian packages the image needs
#   install.sh system        apt-get install them (on a Debian base image)
#   install.sh deps SRC      the user, the folders, a venv with linksvc's
#                            dependencies (from SRC/pyproject.toml only, so
#                            this layer is rebuilt only when they change)
#   install.sh app SRC       linksvc itself from SRC, then SRC is removed
#
# EXTRAS (default "postgres,redis") picks the optional dependencies; "ldap"
# also needs gcc and libldap2-dev in the image, which this script does not add.
set -eu

PACKAGES="python3 python3-venv ca-certificates"
VENV=/opt/linksvc
EXTRAS="${EXTRAS:-postgres,redis}"
# The two volumes: the instance (keys, database, metrics) and the files.
INSTANCE=/var/lib/linksvc
FILES=/srv/linksvc/protected
UID_=10001

step="${1:?usage: install.sh packages|system|deps SRC|app SRC}"
case "$step" in
packages)
  echo "$PACKAGES"
  ;;
system)
  apt-get update
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $PACKAGES
  rm -rf /var/lib/apt/lists/*
  ;;
deps)
  src="${2:?install.sh deps SRC}"
  getent group linksvc >/dev/null || groupadd --system --gid "$UID_" linksvc
  getent passwd linksvc >/dev/null || useradd --system --uid "$UID_" --gid linksvc \
    --home-dir "$INSTANCE" --no-create-home --shell /usr/sbin/nologin linksvc
  # Owned by linksvc, so that a new named volume mounted there is too;
  # the instance (keys, database) is for its owner only.
  install -d -o linksvc -g linksvc -m 0700 "$INSTANCE"
  install -d -o linksvc -g linksvc -m 0750 "$FILES"
  install -d -m 0755 /etc/linksvc
  python3 -m venv "$VENV"
  "$VENV/bin/python" - "$src/pyproject.toml" "$EXTRAS" >/tmp/requirements.txt <<'PY'
import sys
import tomllib

project = tomllib.load(open(sys.argv[1], "rb"))["project"]
wanted = project["dependencies"]
for extra in filter(None, sys.argv[2].split(",")):
    wanted += project["optional-dependencies"][extra]
print("\n".join(wanted))
PY
  "$VENV/bin/pip" install --no-input --disable-pip-version-check -r /tmp/requirements.txt
  rm /tmp/requirements.txt
  ;;
app)
  src="${2:?install.sh app SRC}"
  # Build from a copy: the build writes into the tree it is given.
  build=$(mktemp -d)
  cp -r "$src/." "$build"
  "$VENV/bin/pip" install --no-input --disable-pip-version-check --no-deps "$build"
  rm -rf "$build" "$src"
  # The image's only command, on the PATH of `podman exec` too.
  ln -sf "$VENV/bin/linksvc" /usr/local/bin/linksvc
  # Nothing in the image is the linksvc user's to change.
  "$VENV/bin/python" -c "import linksvc.app"
  ;;
*)
  echo "install.sh: unknown step $step" >&2
  exit 2
  ;;
esac
