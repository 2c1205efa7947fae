"""What every ``linksvc`` command shares: the group classes, the one
``--settings`` option, the app and its parts, and the one place a refusal
becomes a message and an exit status."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import FlaskGroup

from .. import services as services_module
from ..app import create_app
from ..core.errors import LinksvcError
from ..services import Services

SETTINGS_KEY = "linksvc.settings"


def _remember_settings(ctx: click.Context, _param, value: str | None) -> None:
    if value is not None:
        ctx.meta[SETTINGS_KEY] = value


def settings_param() -> click.Option:
    """``--settings PATH``: accepted by the group and by every command."""
    return click.Option(
        ["--settings"],
        metavar="PATH",
        expose_value=False,
        is_eager=True,
        callback=_remember_settings,
        help="Settings file (default: $LINKSVC_SETTINGS or ./settings.toml).",
    )


def settings_path() -> str | None:
    ctx = click.get_current_context(silent=True)
    return ctx.meta.get(SETTINGS_KEY) if ctx else None


def make_app() -> Flask:
    return create_app(settings_path=settings_path())


def services() -> Services:
    """The parts of the app the command runs in (``with_appcontext``)."""
    return services_module.of()


def _with_settings(cmd: click.Command) -> click.Command:
    if not isinstance(cmd, click.Group):
        cmd.params.append(settings_param())
    return cmd


class Group(FlaskGroup):
    """The top group: every command also accepts ``--settings``, and our
    refusals become a one-line error with exit code 1, never a traceback."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        super().add_command(_with_settings(cmd), name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        # Our own commands only: listing them must not need a working
        # instance (FlaskGroup would build the app, and fail before init).
        return click.Group.list_commands(self, ctx)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except LinksvcError as exc:
            raise click.ClickException(str(exc)) from None


class SubGroup(click.Group):
    """A group of commands (user, link, …), each accepting ``--settings``."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        super().add_command(_with_settings(cmd), name)


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"
