"""`swarmredis certs init|issue|status|due` and `swarmredis certs ca start|finish`.

A thin shell over ``swarmredis.pki``: it reads the stack file, opens the store,
asks for the CA passphrase when a command needs the key, and renders results.
Secrets are never printed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from swarmredis.cli.common import (
    CERTS_DIR_OPTION,
    DOCKER_HOST_OPTION,
    JSON_OPTION,
    Command,
    Group,
    console,
    flag,
    print_json,
)
from swarmredis.cli.pkiview import open_deployed, open_stack
from swarmredis.errors import EXIT_CHANGES, EXIT_OK, PKIError

if TYPE_CHECKING:
    from swarmredis.pki.ca import NameLimits
    from swarmredis.pki.keys import KeyType
    from swarmredis.pki.model import StackPKI

# swarmredis.pki (cryptography) and swarmredis.stackfile (pydantic, yaml) load inside the
# commands, so that `--help` and `--version` do not pay for them (docs/performance.md).
PASSPHRASE_ENV = "SWARMREDIS_CA_PASSPHRASE"  # = pki.manage.PASSPHRASE_ENV (a test checks)


class KeyTypeChoice(StrEnum):
    """The ``--key-type`` choices: the values of ``pki.keys.KeyType`` (a test keeps them
    equal), here so that typer can read the option without loading cryptography."""

    ECDSA_P256 = "ecdsa-p256"
    RSA_3072 = "rsa-3072"
    ED25519 = "ed25519"


def chosen_key_type(choice: KeyTypeChoice) -> KeyType:
    from swarmredis.pki.keys import KeyType

    return KeyType(choice.value)


STACK_FILE = typer.Argument(..., help="The stack file (stacks/*.yaml).")
HOST_ADDRESS = typer.Option(
    [],
    "--host-address",
    metavar="NODE=ADDRESS",
    help="Extra SAN for a node's certificate (IP or DNS name); repeat for several.",
)
KEY_TYPE = typer.Option(KeyTypeChoice.ECDSA_P256, "--key-type", help="CA and leaf key algorithm.")
CA_DAYS = typer.Option(3650, "--ca-days", min=1, help="Lifetime of the CA in days.")
RENEW_DAYS = typer.Option(30, "--renew-days", min=0, help="Renew leaves with fewer days left.")
ENCRYPT = flag(
    "--encrypt-key",
    help=f"Encrypt the CA key; the passphrase comes from {PASSPHRASE_ENV} or a prompt.",
)
NAME_CONSTRAINTS = flag(
    "--name-constraints",
    help="Limit the CA to the stack's current aliases, localhost and --permit-ip networks "
    "(growing the stack later needs `certs ca start`).",
)
PERMIT_IP = typer.Option(
    [], "--permit-ip", metavar="CIDR", help="IP network the CA may name (with --name-constraints)."
)


def _now() -> datetime:
    return datetime.now(UTC)


def ask_passphrase() -> bytes | None:
    """The CA passphrase: the environment, else a prompt when there is a terminal."""
    from swarmredis.pki import manage

    from_env = manage.env_passphrase()
    if from_env or not sys.stdin.isatty():
        return from_env
    text: str = typer.prompt("CA key passphrase", hide_input=True)
    return text.encode("utf-8")


def passphrase_for_new_key(encrypt: bool) -> bytes | None:
    from swarmredis.pki import manage

    from_env = manage.env_passphrase()
    if from_env or not encrypt:
        return from_env
    if not sys.stdin.isatty():
        raise PKIError(f"--encrypt-key needs {PASSPHRASE_ENV} or a terminal to ask")
    text: str = typer.prompt("New CA key passphrase", hide_input=True, confirmation_prompt=True)
    return text.encode("utf-8")


def _limits(spec: StackPKI, enabled: bool, permit_ip: list[str]) -> NameLimits | None:
    if not enabled:
        if permit_ip:
            raise PKIError("--permit-ip only makes sense with --name-constraints")
        return None
    from swarmredis.pki.ca import NameLimits

    return NameLimits.for_stack(spec.aliases(), permit_ip)


def _day(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d") if moment else ""


def init_command(
    stack_file: Path = STACK_FILE,
    certs_dir: Path = CERTS_DIR_OPTION,
    key_type: KeyTypeChoice = KEY_TYPE,
    ca_days: int = CA_DAYS,
    encrypt_key: bool = ENCRYPT,
    name_constraints: bool = NAME_CONSTRAINTS,
    permit_ip: list[str] = PERMIT_IP,
) -> None:
    """Create the stack's private CA (nothing changes when it exists)."""
    from swarmredis.pki import manage

    store, spec = open_stack(stack_file, certs_dir)
    if manage.has_ca(store):
        console.print(f"CA exists: {store.show(store.ca_current)} (nothing changed)")
        return
    limits = _limits(spec, name_constraints, permit_ip)
    manage.init_ca(
        store,
        now=_now(),
        key_type=chosen_key_type(key_type),
        days=ca_days,
        passphrase=passphrase_for_new_key(encrypt_key),
        limits=limits,
    )
    until = store.read_cert(store.ca_current).not_valid_after_utc
    console.print(
        f"created CA {store.show(store.ca_current)} ({key_type.value}, valid until {_day(until)})"
    )
    console.print(f"next: swarmredis certs issue {stack_file}")


def issue_command(
    stack_file: Path = STACK_FILE,
    certs_dir: Path = CERTS_DIR_OPTION,
    leaf_days: int = typer.Option(90, "--leaf-days", min=1, help="Lifetime of leaves in days."),
    renew_days: int = RENEW_DAYS,
    host_address: list[str] = HOST_ADDRESS,
    docker_host: str | None = DOCKER_HOST_OPTION,
) -> None:
    """Issue node and client certificates and ACL passwords that are missing or due (for
    the deployed stack's nodes when a Swarm manager answers, else the stack file's)."""
    from swarmredis.pki import manage

    store, spec, source = open_deployed(stack_file, certs_dir, docker_host, host_address)
    console.print(f"nodes from {source}", highlight=False)
    report = manage.issue(
        store,
        spec,
        now=_now(),
        passphrase=ask_passphrase,
        days=leaf_days,
        renew_within=timedelta(days=renew_days),
    )
    for check in report.issued:
        why = ", ".join(r.value for r in check.reasons)
        console.print(f"issued {check.kind} {check.name} ({why})", highlight=False)
    for user in report.new_passwords:
        console.print(f"new password for {user} in {store.show(store.password_file(user))}")
    console.print(f"{len(report.issued)} issued, {len(report.unchanged)} unchanged")


def status_command(
    stack_file: Path = STACK_FILE,
    certs_dir: Path = CERTS_DIR_OPTION,
    as_json: bool = JSON_OPTION,
    warn_days: int = typer.Option(30, "--warn-days", min=0, help="Warn when fewer days are left."),
    docker_host: str | None = DOCKER_HOST_OPTION,
) -> None:
    """Subject, SANs and expiry of each certificate; exit 0 ok, 1 due soon, 2 expired/missing.
    The nodes are the deployed stack's when a Swarm manager answers, else the stack file's."""
    from swarmredis.pki import manage
    from swarmredis.pki.status import exit_code

    store, spec, source = open_deployed(stack_file, certs_dir, docker_host)
    infos = manage.store_status(store, spec, now=_now(), warn_within=timedelta(days=warn_days))
    code = exit_code(infos)
    if as_json:
        print_json(
            {
                "stack": spec.stack,
                "exit_code": code,
                "nodes_from": source,
                "certificates": [i.as_dict() for i in infos],
            }
        )
    else:
        table = Table(title=f"certificates of {spec.stack}", caption=f"nodes from {source}")
        for column in ("kind", "name", "state", "days left", "not after", "subject", "SANs"):
            table.add_column(column)
        for i in infos:
            table.add_row(
                i.kind,
                i.name,
                i.state.value,
                "" if i.days_left is None else str(i.days_left),
                _day(i.not_after),
                i.subject or i.path,
                ", ".join(i.sans),
            )
        console.print(table)
    raise typer.Exit(code)


def due_command(
    stack_file: Path = STACK_FILE,
    certs_dir: Path = CERTS_DIR_OPTION,
    as_json: bool = JSON_OPTION,
    renew_days: int = RENEW_DAYS,
    host_address: list[str] = HOST_ADDRESS,
    docker_host: str | None = DOCKER_HOST_OPTION,
) -> None:
    """The leaves that need renewal and why: exit 3 when any, 0 when none (`certs issue` renews).
    The nodes are the deployed stack's when a Swarm manager answers, else the stack file's."""
    from swarmredis.pki import manage

    store, spec, source = open_deployed(stack_file, certs_dir, docker_host, host_address)
    checks = manage.check_leaves(store, spec, now=_now(), renew_within=timedelta(days=renew_days))
    due = [c for c in checks if c.reasons]
    code = EXIT_CHANGES if due else EXIT_OK
    if as_json:
        rows = [
            {
                "kind": c.kind,
                "name": c.name,
                "path": store.show(c.cert_path),
                "reasons": [r.value for r in c.reasons],
            }
            for c in due
        ]
        print_json({"stack": spec.stack, "exit_code": code, "nodes_from": source, "due": rows})
    elif due:
        table = Table(title=f"{len(due)} certificate(s) of {spec.stack} need renewal")
        for column in ("kind", "name", "why"):
            table.add_column(column)
        for c in due:
            table.add_row(c.kind, c.name, ", ".join(r.value for r in c.reasons))
        console.print(table)
    else:
        console.print(f"all {len(checks)} certificates of {spec.stack} are current")
    if not as_json:
        console.print(f"nodes from {source}", highlight=False)
    raise typer.Exit(code)


def ca_start_command(
    stack_file: Path = STACK_FILE,
    certs_dir: Path = CERTS_DIR_OPTION,
    key_type: KeyTypeChoice | None = typer.Option(
        None, "--key-type", help="Key algorithm of the new CA (default: that of the current one)."
    ),
    ca_days: int = CA_DAYS,
    encrypt_key: bool = ENCRYPT,
    name_constraints: bool = NAME_CONSTRAINTS,
    permit_ip: list[str] = PERMIT_IP,
) -> None:
    """Step 1 of a CA rotation: a new CA signs from now on; ca.crt trusts it and the old one."""
    from swarmredis.pki import rotation

    store, spec = open_stack(stack_file, certs_dir)
    limits = _limits(spec, name_constraints, permit_ip)
    rotation.start_ca_rotation(
        store,
        now=_now(),
        key_type=None if key_type is None else chosen_key_type(key_type),
        days=ca_days,
        passphrase=passphrase_for_new_key(encrypt_key),
        old_passphrase=ask_passphrase,
        limits=limits,
    )
    console.print(_ROTATION_STEPS.format(file=stack_file), highlight=False)


def ca_finish_command(
    stack_file: Path = STACK_FILE,
    certs_dir: Path = CERTS_DIR_OPTION,
) -> None:
    """Last step of a CA rotation: ca.crt trusts only the new CA (every leaf re-issued first)."""
    from swarmredis.pki import rotation

    store, spec = open_stack(stack_file, certs_dir)
    if not rotation.finish_ca_rotation(store, spec, now=_now()):
        raise PKIError(
            "no CA rotation in progress", hint=f"{store.show(store.ca_previous)} does not exist"
        )
    console.print(
        f"{store.show(store.ca_bundle)} now trusts only the new CA; "
        f"run `swarmredis deploy {stack_file}`",
        highlight=False,
    )


_ROTATION_STEPS = """new CA created; ca.crt now trusts the new and the previous CA.
next steps:
  1. swarmredis deploy {file}          (every node learns the new CA)
  2. swarmredis certs issue {file}     (re-issue every leaf with the new CA)
     swarmredis deploy {file}
  3. swarmredis certs ca finish {file}
     swarmredis deploy {file}          (the previous CA is no longer trusted)"""


def register(app: typer.Typer) -> None:
    """Add the `certs` group to the app."""
    certs = typer.Typer(
        help="The stack's private CA, TLS certificates and passwords.",
        no_args_is_help=True,
        cls=Group,
    )
    commands: dict[str, Callable[..., None]] = {
        "init": init_command,
        "issue": issue_command,
        "status": status_command,
        "due": due_command,
    }
    for name, fn in commands.items():
        certs.command(name, cls=Command)(fn)
    from swarmredis.cli.rotate_cmd import rotate_command

    certs.command("rotate", cls=Command)(rotate_command)
    ca = typer.Typer(
        help="Rotate the stack's CA in steps: start, re-issue and deploy, finish.",
        no_args_is_help=True,
        cls=Group,
    )
    ca.command("start", cls=Command)(ca_start_command)
    ca.command("finish", cls=Command)(ca_finish_command)
    certs.add_typer(ca, name="ca")
    app.add_typer(certs, name="certs")
