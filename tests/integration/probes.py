"""Security probes of a deployed stack's containers and published ports (issue 10).

Inside a container only ``sh`` builtins are used (files are read with ``read``), so the
probes hold for an image with nothing but redis-server, redis-cli and sh. From the
manager, raw TLS handshakes with the stack's certificates (``testkit.tls``).
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
from pathlib import Path

import pytest
from testkit.tls import client_context, handshake_and_ping

from .conftest import LAB

DOCKER_DNS = "127.0.0.11"  # Docker's embedded resolver listens in every container's netns
ANY4, ANY6 = "00000000", "0" * 32
NOAUTH = b"-NOAUTH Authentication required.\r\n"

# sh builtins only: print each file named in "$@"
READ_FILES = (
    'for f in "$@"; do echo "== $f"; '
    'while IFS= read -r l || [ -n "$l" ]; do echo "$l"; done < "$f"; done'
)
# Which of -r -x hold for the calling user (sh builtins; -w is not asked: the secrets
# mount is read-only, so it is false whatever the mode).
SECRET_BITS = (
    'for f in /run/secrets/*; do r=-; x=-; [ -r "$f" ] && r=r; [ -x "$f" ] && x=x; '
    'echo "$f $r$x"; done'
)


def docker(k: int, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """The docker CLI against lab host k, bounded."""
    done = subprocess.run(
        [str(LAB), "docker", str(k), *args], capture_output=True, text=True, timeout=120
    )
    if check:
        assert done.returncode == 0, f"docker {' '.join(args)}: {done.stdout}{done.stderr}"
    return done


def containers(stack: str, size: int) -> dict[str, tuple[int, str]]:
    """Logical node -> (lab host, container id) of every running task of ``stack``."""
    found: dict[str, tuple[int, str]] = {}
    fmt = '{{.ID}} {{.Label "com.docker.swarm.service.name"}}'
    namespace = f"label=com.docker.stack.namespace={stack}"
    for k in range(1, size + 1):
        for line in docker(k, "ps", "--filter", namespace, "--format", fmt).stdout.splitlines():
            cid, service = line.split()
            assert service.startswith(f"{stack}_"), line
            found[service.removeprefix(f"{stack}_")] = (k, cid)
    return found


def in_container(k: int, cid: str, script: str, *args: str, user: str | None = None) -> str:
    """``sh -c script`` inside a container (as its own user unless ``user``): stdout."""
    who = ["--user", user] if user else []
    return docker(k, "exec", *who, cid, "sh", "-c", script, "sh", *args).stdout


def read_files(k: int, cid: str, *paths: str) -> dict[str, list[str]]:
    """File -> lines, read inside the container with sh builtins."""
    out: dict[str, list[str]] = {}
    current = ""
    for line in in_container(k, cid, READ_FILES, *paths).splitlines():
        if line.startswith("== "):
            current = line[3:]
            out[current] = []
        else:
            out[current].append(line)
    assert sorted(out) == sorted(paths), out.keys()
    return out


def listening(lines: list[str]) -> set[tuple[str, int]]:
    """(address hex, port) of each LISTEN (state 0A) socket of a /proc/net/tcp table."""
    found = set()
    for line in lines[1:]:
        fields = line.split()
        if fields[3] == "0A":
            address, port = fields[1].rsplit(":", 1)
            found.add((address, int(port, 16)))
    return found


def ipv4_hex(address: str) -> str:
    """An IPv4 address as /proc/net/tcp writes it (little-endian hex)."""
    return "".join(f"{int(octet):02X}" for octet in reversed(address.split(".")))


def assert_listens_only_on(k: int, cid: str, ports: set[int]) -> None:
    """The container's LISTEN sockets are ``ports`` on every address (v4 and v6), apart
    from Docker's resolver (one socket on 127.0.0.11, dockerd's, not the container's)."""
    tables = read_files(k, cid, "/proc/net/tcp", "/proc/net/tcp6")
    v4, v6 = listening(tables["/proc/net/tcp"]), listening(tables["/proc/net/tcp6"])
    resolver = {s for s in v4 if s[0] == ipv4_hex(DOCKER_DNS)}
    assert len(resolver) == 1, v4
    assert v4 - resolver == {(ANY4, p) for p in ports}, v4
    assert v6 == {(ANY6, p) for p in ports}, v6


def assert_tls_only(address: tuple[str, int], store: Path, cert: str) -> None:
    """TLS 1.2 and 1.3 with ``cert`` reach a Redis (NOAUTH: ``default`` is off); TLS 1.0
    and 1.1 get the server's protocol-version alert; plain text is dropped unanswered; no
    client certificate gets the handshake-failure (1.2) or certificate-required (1.3) alert."""
    for version, name in ((ssl.TLSVersion.TLSv1_2, "TLSv1.2"), (ssl.TLSVersion.TLSv1_3, "TLSv1.3")):
        assert handshake_and_ping(address, client_context(store, cert, version)) == (name, NOAUTH)
    for old in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
        # the server's alert, not this client refusing to offer the version
        with pytest.raises(ssl.SSLError, match=r"\[SSL: TLSV1_ALERT_PROTOCOL_VERSION\]"):
            handshake_and_ping(address, client_context(store, cert, old))
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(b"PING\r\n")
        try:
            answer = sock.recv(64)
        except ConnectionResetError:
            answer = b"<reset>"
    assert answer in (b"<reset>", b""), answer  # closed; a timeout (held open) fails
    no_cert_12 = client_context(store, None, ssl.TLSVersion.TLSv1_2)
    with pytest.raises(ssl.SSLError, match=r"\[SSL: SSLV3_ALERT_HANDSHAKE_FAILURE\]"):
        handshake_and_ping(address, no_cert_12)
    # TLS 1.3: the client finishes first, then reads the server's alert. Sending first
    # races the server's close (its reset can discard the alert: "EOF occurred in
    # violation of protocol" on the lab), so this reads without sending.
    no_cert_13 = client_context(store, None, ssl.TLSVersion.TLSv1_3)
    with pytest.raises(ssl.SSLError, match=r"\[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED\]"):
        handshake_and_ping(address, no_cert_13, payload=None)


def assert_hardened(k: int, cid: str) -> None:
    """uid/gid 999, no capability at all (redis-server and an exec'd sh), read-only root."""
    [seen] = json.loads(docker(k, "inspect", cid).stdout)
    host = seen["HostConfig"]
    assert seen["Config"]["User"] == "999:999"
    assert (host["ReadonlyRootfs"], host["CapDrop"], host["CapAdd"]) == (True, ["ALL"], None)
    assert host["Privileged"] is False
    statuses = read_files(k, cid, "/proc/1/status", "/proc/self/status")
    # the container's processes seen from the host (the lab's engines share its kernel):
    # Docker's init as PID 1 and redis-server under it
    top = docker(k, "top", cid, "-eo", "pid,comm").stdout.splitlines()[1:]
    names = {int(line.split()[0]): line.split()[1] for line in top}
    assert "redis-server" in names.values() and "docker-init" in names.values(), names
    for pid, name in names.items():
        if name in ("docker-init", "redis-server"):
            statuses[f"host /proc/{pid} ({name})"] = (
                Path(f"/proc/{pid}/status").read_text().splitlines()
            )
    for path, lines in statuses.items():
        fields = dict(line.split(":\t", 1) for line in lines if ":\t" in line)
        assert fields["Name"] in ("docker-init", "redis-server", "sh"), (path, fields["Name"])
        assert fields["Uid"].split() == ["999"] * 4, path
        assert fields["Gid"].split() == ["999"] * 4, path
        for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
            assert fields[cap] == "0" * 16, (path, cap)
    wrote = docker(k, "exec", cid, "sh", "-c", "echo x > /probe", check=False)
    assert (wrote.returncode, wrote.stderr.strip()) == (
        2,
        "sh: 1: cannot create /probe: Read-only file system",
    )


def assert_secrets_0400(k: int, cid: str, names: set[str]) -> None:
    """/run/secrets holds exactly ``names``, readable by uid 999 only, executable by none.

    With sh builtins as the owner, as another member of group 999 and as another user;
    ``ls -ln`` too where the image has it (the lab's does).
    """
    files = {f"/run/secrets/{name}" for name in names}
    for who, bits in (("999:999", "r-"), ("1000:999", "--"), ("1000:1000", "--")):
        out = in_container(k, cid, SECRET_BITS, user=who)
        assert dict(line.split() for line in out.splitlines()) == dict.fromkeys(files, bits), who
    if docker(k, "exec", cid, "sh", "-c", "command -v ls", check=False).returncode == 0:
        listing = in_container(k, cid, "ls -ln /run/secrets").splitlines()[1:]
        modes = {tuple(line.split()[:4]) for line in listing}
        assert modes == {("-r--------", "1", "999", "999")}, listing
