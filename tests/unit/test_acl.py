"""ACL users: rendering, built-in rights, passwords and the auth snippets."""

from __future__ import annotations

import base64
import hashlib

import pytest

from swarmredis.errors import PKIError
from swarmredis.pki import acl


def passwords_for(users: tuple[acl.AclUser, ...]) -> dict[str, str]:
    return {u.name: f"pw-{u.name}" for u in users if u.enabled}


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_redis_acl_file_lines() -> None:
    app = acl.stack_user("app", ["app:*"], ["news"], ["+@read", "+@write", "-flushall"])
    users = acl.redis_users([app], sentinels=True)
    assert [u.name for u in users] == [
        "default",
        "swarmredis-admin",
        "replication",
        "monitor",
        "sentinel",
        "app",
    ]
    lines = acl.render_users(users, passwords_for(users)).splitlines()
    assert lines[0] == "user default off resetpass resetkeys resetchannels -@all"
    assert lines[1] == (
        f"user swarmredis-admin on #{sha('pw-swarmredis-admin')} resetkeys ~* resetchannels &* "
        "-@all +@all"
    )
    assert lines[2] == (
        f"user replication on #{sha('pw-replication')} resetkeys resetchannels "
        "-@all +psync +replconf +ping"
    )
    assert lines[4].startswith(
        f"user sentinel on #{sha('pw-sentinel')} resetkeys resetchannels "
        "&__sentinel__:hello -@all +multi +slaveof "
    )
    assert lines[5] == (
        f"user app on #{sha('pw-app')} resetkeys ~app:* resetchannels &news "
        "-@all +@read +@write -flushall -keys -scan -randomkey"
    )
    assert not any("pw-" in line for line in lines)


def test_users_with_limited_keys_cannot_list_other_key_names() -> None:
    limited = acl.stack_user("app", ["app:*"], [], ["+@read", "+SCAN"], cluster=True)
    assert limited.commands == (
        "+@read",
        "+SCAN",  # named by the stack file: kept
        "-keys",
        "-randomkey",
        *acl.CLUSTER_CLIENT,
    )
    everything = acl.stack_user("ops", ["*"], [], ["+@read"])
    assert everything.commands == ("+@read",)
    no_keys = acl.stack_user("feed", [], ["news"], ["+@pubsub"])
    assert no_keys.commands == ("+@pubsub", "-keys", "-scan", "-randomkey")


def test_monitor_is_read_only_without_keys_or_config() -> None:
    monitor = acl.MONITOR_USER
    assert monitor.keys == () and monitor.channels == ()
    assert all(c.startswith("+") for c in monitor.commands)
    assert "+config|get" not in monitor.commands  # CONFIG GET returns masterauth in clear
    assert "+slowlog|get" not in monitor.commands
    assert "+info" in monitor.commands and "+ping" in monitor.commands


def test_sentinel_user_only_in_replication_mode() -> None:
    assert "sentinel" not in [u.name for u in acl.redis_users([], sentinels=False)]


def test_client_certificates_for_engine_monitor_and_stack_users() -> None:
    app = acl.stack_user("app", [], [], ["+ping"])
    users = acl.redis_users([app], sentinels=True)
    assert [u.name for u in users if u.client_cert] == ["swarmredis-admin", "monitor", "app"]
    assert acl.password_users(users) == (
        "swarmredis-admin",
        "replication",
        "monitor",
        "sentinel",
        "app",
    )


@pytest.mark.parametrize("name", ["default", "Sentinel", "swarmredis-admin", "monitor"])
def test_builtin_names_are_reserved(name: str) -> None:
    with pytest.raises(PKIError, match="built-in"):
        acl.stack_user(name, [], [], ["+ping"])


@pytest.mark.parametrize(
    ("name", "keys", "commands", "refusal"),
    [
        ("bad name", [], ["+ping"], "ACL user name 'bad name' must match"),
        ("../x", [], ["+ping"], r"ACL user name '\.\./x' must match"),
        ("ok", ["a b"], ["+ping"], "ACL user 'ok': rule 'a b' has blanks"),
    ],
)
def test_unsafe_names_and_rules_are_refused(
    name: str, keys: list[str], commands: list[str], refusal: str
) -> None:
    with pytest.raises(PKIError, match=refusal):
        acl.stack_user(name, keys, [], commands)


def test_duplicate_users_are_refused() -> None:
    app = acl.stack_user("app", [], [], ["+ping"])
    with pytest.raises(PKIError, match="twice"):
        acl.redis_users([app, app], sentinels=False)


def test_missing_password_is_an_error() -> None:
    with pytest.raises(PKIError, match="no password for ACL user 'swarmredis-admin'"):
        acl.render_users([acl.ADMIN_USER], {})


def test_passwords_are_32_random_bytes_base64url() -> None:
    first, second = acl.new_password(), acl.new_password()
    assert first != second
    assert len(first) == 43
    assert len(base64.urlsafe_b64decode(first + "=")) == 32
    assert set(first) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert acl.password_hash("abc") == sha("abc")


def test_auth_snippets() -> None:
    assert acl.replication_auth("pw") == "masteruser replication\nmasterauth pw\n"
    app = acl.stack_user("app", [], [], ["+ping"])
    side = acl.sentinel_side_users([app])
    assert [u.name for u in side] == ["default", "swarmredis-admin", "sentinel", "monitor", "app"]
    text = acl.sentinel_auth("acme", "spw", acl.render_users(side, passwords_for(side)))
    lines = text.splitlines()
    assert lines[:4] == [
        "sentinel auth-user acme sentinel",
        "sentinel auth-pass acme spw",
        "sentinel sentinel-user sentinel",
        "sentinel sentinel-pass spw",
    ]
    assert lines[4] == "user default off resetpass resetkeys resetchannels -@all"
    app_line = lines[8]
    assert "+sentinel|get-master-addr-by-name" in app_line and "&+switch-master" in app_line
    assert "~" not in app_line  # sentinels hold no keys
    monitor_line = lines[7]  # metrics: the Sentinel's view, nothing that changes it
    assert monitor_line.startswith("user monitor on #") and "+sentinel|ckquorum" in monitor_line
    assert "+sentinel|failover" not in monitor_line and "+sentinel|set" not in monitor_line
