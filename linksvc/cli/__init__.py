"""The ``linksvc`` command: one Flask CLI group; each command a thin wrapper
over a function of the layers below, grouped by what it manages:
instance.py (init, serve, keys), people.py (users, tokens), groups.py
(groups and their policy), links.py (links, audit), provisioning.py
(SCIM tokens).

May import anything below it (app, features, db, files, core, config);
never web (tests/unit/test_layers.py checks it)."""

from __future__ import annotations

from . import groups
from . import instance
from . import links
from . import notices
from . import people
from . import provisioning
from .base import Group
from .base import make_app
from .base import settings_param

cli = Group(
    name="linksvc",
    help="Signed, expiring download links for a protected directory.",
    create_app=make_app,
    load_dotenv=False,
    set_debug_flag=False,
    params=[settings_param()],
)
# FlaskGroup's --app, --env-file and --debug would only confuse here: the
# app is always linksvc's, configured by --settings.
cli.params = [p for p in cli.params if p.name not in ("app", "env_file", "debug")]
for command in [
    *instance.COMMANDS,
    *people.GROUPS,
    *groups.GROUPS,
    *links.GROUPS,
    *notices.COMMANDS,
    *provisioning.GROUPS,
]:
    cli.add_command(command)


def main() -> None:
    cli.main(prog_name="linksvc")
