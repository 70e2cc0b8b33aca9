"""`swarmredis users`: the stack's ACL users and their rules.

Passwords are never printed, except one on request (``--show-password USER``), alone on
stdout for scripts.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from swarmredis.cli.certs_cmd import STACK_FILE, open_stack
from swarmredis.cli.common import CERTS_DIR_OPTION, JSON_OPTION, Command, console, print_json
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
        help="Print only this user's password (for scripts).",
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
        sys.stdout.write(store.read_password(show_password) + "\n")
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


def register(app: typer.Typer) -> None:
    """Add `users` to the app."""
    app.command("users", cls=Command)(users_command)
