"""A gateway's RabbitMQ user and permissions, through ``rabbitmqctl`` (GATEWAY_RABBITMQCTL).

The management HTTP API is not always enabled; ``rabbitmqctl`` comes with every broker. The
password is given on stdin, never on a command line another user could read.
"""

from __future__ import annotations

import subprocess
from urllib.parse import unquote, urlsplit

from django.conf import settings

from apps.gateways import wire


class RabbitError(Exception):
    """rabbitmqctl failed (not installed, broker down, refused)."""


def vhost() -> str:
    """The vhost of GATEWAY_BROKER_URL (RabbitMQ's default "/" when the URL names none)."""
    path = urlsplit(settings.GATEWAY_BROKER_URL).path
    return unquote(path[1:]) if len(path) > 1 else "/"


def _ctl(*args: str, stdin: str | None = None) -> str:
    command = [settings.GATEWAY_RABBITMQCTL, "--quiet", *args]
    try:
        done = subprocess.run(  # noqa: S603 - fixed program, arguments are ours
            command, input=stdin, capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise RabbitError(f"{command[0]} could not run: {error}") from error
    if done.returncode != 0:
        raise RabbitError(f"rabbitmqctl {args[0]} failed: {(done.stderr or done.stdout).strip()}")
    return done.stdout


def user_create(gateway: str, password: str, *, on_vhost: str | None = None) -> str:
    """Creates (or resets) the gateway's user and gives it its permissions on ``on_vhost``
    (default: `vhost`)."""
    user = wire.rabbit_user(gateway)
    try:
        _ctl("add_user", user, stdin=password + "\n")
    except RabbitError as error:
        if "already exists" not in str(error):
            raise
        _ctl("change_password", user, stdin=password + "\n")
    configure, write, read = wire.permissions(gateway)
    _ctl("set_permissions", "-p", on_vhost or vhost(), user, configure, write, read)
    return user


def user_delete(gateway: str) -> None:
    """Deletes the user and closes its open connections; gone already is fine."""
    user = wire.rabbit_user(gateway)
    try:
        _ctl("delete_user", user)
    except RabbitError as error:
        if "does not exist" not in str(error) and "no_such_user" not in str(error):
            raise
    _ctl("close_all_user_connections", user, "gateway revoked")
