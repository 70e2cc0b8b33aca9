"""`swarmredis users [list] STACKFILE`: the stack's ACL users and their rules;
`swarmredis users rotate STACKFILE USER [--finish]`: a new password, live.

Passwords are never printed, except one on request (``--show-password USER``), alone on
stdout for scripts (during a rotation, the previous one on a second line).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from swarmredis.cli.certs_cmd import STACK_FILE
from swarmredis.cli.common import (
    CERTS_DIR_OPTION,
    DOCKER_HOST_OPTION,
    JSON_LINES_OPTION,
    JSON_OPTION,
    LOCK_TIMEOUT_OPTION,
    ROLLING_TIMEOUT_OPTION,
    Command,
    DefaultGroup,
    console,
    flag,
    print_json,
    print_json_line,
    run,
)
from swarmredis.cli.pkiview import open_stack
from swarmredis.cli.progress import Mode, reporting
from swarmredis.errors import PKIError

if TYPE_CHECKING:
    from swarmredis.pki.acl import AclUser
    from swarmredis.pki.model import StackPKI
    from swarmredis.pki.store import CertStore


def users_command(
    stack_file: Path = STACK_FILE,
    certs_dir: Path = CERTS_DIR_OPTION,
    as_json: bool = JSON_OPTION,
    show_password: str | None = typer.Option(
        None,
        "--show-password",
        metavar="USER",
        help="Print only this user's password (for scripts); during a rotation the"
        " previous one follows on a second line.",
    ),
) -> None:
    """List the ACL users and their rules (never their passwords)."""
    from datetime import UTC, datetime

    from swarmredis.pki.validate import check_store

    store, spec = open_stack(stack_file, certs_dir)
    check_store(store, now=datetime.now(UTC))
    if show_password is not None:
        known = spec.password_users()
        if show_password not in known:
            raise PKIError(
                f"no user {show_password!r} with a password", hint="users: " + ", ".join(known)
            )
        from swarmredis.pki.passwords import previous_passwords

        sys.stdout.write(store.read_password(show_password) + "\n")
        for old in previous_passwords(store, [show_password]).values():
            sys.stdout.write(old + "\n")
        return
    rows = _user_rows(store, spec)
    if as_json:
        print_json(rows)
        return
    table = Table(title=f"ACL users of {spec.stack}")
    for column in ("user", "on", "purpose", "client cert", "password", "rules"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["user"],
            row["on"],
            row["purpose"],
            _yes(row["client_cert"]),
            _yes(row["password_stored"]),
            row["rules"],
        )
    console.print(table)


def _user_rows(store: CertStore, spec: StackPKI) -> list[dict[str, Any]]:
    def row(user: AclUser, where: str) -> dict[str, Any]:
        stored = user.enabled and store.exists(store.password_file(user.name))
        return {
            "user": user.name,
            "on": where,
            "purpose": user.purpose,
            "client_cert": user.client_cert,
            "password_stored": stored,
            "rules": user.rules(),
        }

    return [row(u, "redis") for u in spec.redis_users()] + [
        row(u, "sentinels") for u in spec.sentinel_users()
    ]


def _yes(flag: bool) -> str:
    return "yes" if flag else "-"


def rotate_command(
    stack_file: Path = STACK_FILE,
    user: str = typer.Argument(
        ..., help="The user: a stack user, or swarmredis-admin, replication, monitor, sentinel."
    ),
    finish: bool = flag(
        "--finish", help="End the rotation: the previous password stops working, live."
    ),
    docker_host: str | None = DOCKER_HOST_OPTION,
    certs_dir: Path = CERTS_DIR_OPTION,
    timeout: float = ROLLING_TIMEOUT_OPTION,
    lock_timeout: float = LOCK_TIMEOUT_OPTION,
    as_json: bool = JSON_LINES_OPTION,
    quiet: bool = flag("--quiet", "-q", help="Print only errors."),
) -> None:
    """Rotate USER's password: the new one works at once beside the old, then rolls out.

    The secrets roll out node by node, failover first. --finish removes the old password.
    Exit 0 done, 1 done but degraded, 2 failed (run it again to resume)."""
    from swarmredis.engine.flows.plan import DeployOptions
    from swarmredis.engine.flows.users import PasswordResult, rotate_password
    from swarmredis.gateway.docker import DockerGateway
    from swarmredis.stackfile import load_stack

    mode: Mode = "json" if as_json else "quiet" if quiet else "human"
    options = DeployOptions(certs_dir=certs_dir, timeout=timeout, lock_timeout=lock_timeout)

    async def body() -> PasswordResult:
        stack = load_stack(stack_file)
        async with DockerGateway.connect(docker_host) as gateway:
            return await rotate_password(
                gateway,
                stack,
                user,
                options,
                finish=finish,
                stack_file=str(stack_file),
                report=report,
            )

    with reporting(mode) as report:
        result = run(body)
    if as_json:
        print_json_line({"result": result.to_dict()})
    elif not quiet:
        restarted = len(result.deploy.apply.updated) if result.deploy else 0
        if finish:
            line = f"{user}: the previous password no longer works ({restarted} services rolled)"
        else:
            line = (
                f"{user}: new password live on {len(result.live)} node(s), the previous one"
                f" still valid ({restarted} services rolled); end the rotation with"
                f" `swarmredis users rotate {stack_file} {user} --finish`"
            )
        console.print(line, highlight=False)


def register(app: typer.Typer) -> None:
    """Add the `users` group (`users [list] STACKFILE`, `users rotate`) to the app."""
    users = typer.Typer(
        help="The stack's ACL users: list them, rotate a password.",
        no_args_is_help=True,
        cls=DefaultGroup,
    )
    users.command("list", cls=Command)(users_command)
    users.command("rotate", cls=Command)(rotate_command)
    app.add_typer(users, name="users")
