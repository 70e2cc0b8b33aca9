"""Address healing of cluster nodes on the overlay: a shell step of each node's health check.

Redis Cluster's bus dials peers at the IP addresses in ``nodes.conf``. On the overlay a
task that restarts gets a new address (measured on the lab: node-1 went from 10.0.1.2 to
10.0.1.12 after its host came back). One restarted node heals by itself, since it still
knows where the others are and they learn its new address from its pings. When every
node restarts at once (``docker service update --force`` of all, every engine restarted,
a power cut), nobody is where ``nodes.conf`` says, and the cluster stays down.

So every health check (every 5 s) starts, in the background and without changing its
own verdict, a step that does nothing unless this node was part of a cluster
(``cluster_known_nodes`` > 1) and its ``cluster_state`` is ``fail``. Then it asks each
peer its ``CLUSTER NODES`` lists, by the overlay alias it announced, for the address it
is reached at (``CLIENT INFO`` shows ``laddr``, and ``addr`` this node's), MEETs it
there and has the peer MEET this node back; Redis matches the
handshake to the node id it already knows and updates the address, and gossip spreads
it (cluster.c, "If we already have this node, try to change the IP/port of the node
with the new one"). MEET never adds a node this one does not know, and a fresh node is
never touched, so a bootstrap's own order stands.

It needs only ``sh`` and ``redis-cli``: the password is read with ``read`` from the
replication secret, passed in ``REDISCLI_AUTH`` (never on a command line); one step
at a time, by a pid file in ``/data`` (a cut-off peer's connect can hang for two
minutes). The ``replication`` user has just the four commands this needs
(``pki/acl.py``).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

PID_FILE = "/data/.swarmredis-heal.pid"


def heal_script(
    tls_args: Sequence[str],
    auth_file: str,
    port: int,
    bus_port: int,
    pid_file: str = PID_FILE,
) -> str:
    """The step's ``sh`` text for a node that listens on ``port`` (bus ``bus_port``).

    Its peers are the nodes its own ``CLUSTER NODES`` lists (from ``nodes.conf``), by the
    hostname each announced (``ip:port@cport,hostname``): no list in the service spec, so
    adding or removing a node restarts no other."""
    cli = shlex.join(["redis-cli", "--no-auth-warning", *tls_args])
    return "\n".join(
        [
            f"f={shlex.quote(pid_file)}; pid=; read -r pid < $f 2>/dev/null",
            'if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then exit 0; fi',
            "echo $$ > $f || exit 0",
            "u=; p=",
            "while read -r k v; do case $k in masteruser) u=$v;; masterauth) p=$v;; esac;"
            f" done < {shlex.quote(auth_file)}",
            '[ -n "$u" ] && [ -n "$p" ] || exit 0',
            'export REDISCLI_AUTH="$p"',
            f'me() {{ {cli} --user "$u" -h 127.0.0.1 -p {port} "$@"; }}',
            "info=$(me cluster info 2>/dev/null)",
            'case "$info" in *cluster_known_nodes:1[!0-9]*) exit 0;; esac',
            "known=$(me cluster nodes 2>/dev/null) || exit 0",
            # a replica whose primary moved: Redis moves the table entry, not the link
            # (master_host kept the old address, link down for good, seen on the lab);
            # CLUSTER REPLICATE of the same primary dials it where the table says
            "mine=; at=",
            "while read -r id addr flags master rest; do",
            '  case "$flags" in *myself*slave*|*slave*myself*) mine=$master;; esac',
            "done <<EOF",
            "$known",
            "EOF",
            "while read -r id addr flags rest; do",
            '  [ "$id" = "$mine" ] && at=${addr%%:*}',
            "done <<EOF",
            "$known",
            "EOF",
            'if [ -n "$mine" ] && [ -n "$at" ]; then',
            "  set -- $(me role 2>/dev/null)",
            '  if [ "$1" = slave ] && [ "$2" != "$at" ]; then',
            '    me cluster replicate "$mine" >/dev/null 2>&1',
            "  fi",
            "fi",
            'case "$info" in *cluster_state:fail*) ;; *) exit 0;; esac',
            # no slot assigned: a cluster still forming, whose MEETs are the bootstrap's
            'case "$info" in *cluster_slots_assigned:0[!0-9]*) exit 0;; esac',
            "printf '%s\\n' \"$known\" | while read -r id addr flags m p1 p2 e link rest; do",
            '  case "$flags" in *myself*) continue;; esac',
            '  peer=${addr#*,}; peer=${peer%%,*}; [ "$peer" != "$addr" ] || continue',
            f'  a=$({cli} --user "$u" -h "$peer" -p {port} client info 2>/dev/null)',
            '  case "$a" in *laddr=*) ;; *) continue;; esac',
            "  m=${a#*addr=}; myip=${m%%:*}; a=${a#*laddr=}; ip=${a%%:*}",
            # a peer this node reaches where its table says needs nothing: a MEET would only
            # add a handshake entry (seen by `redis-cli --cluster check` after a bootstrap)
            '  [ "$ip" = "${addr%%:*}" ] && [ "$link" = connected ] && continue',
            f'  me cluster meet "$ip" {port} {bus_port} >/dev/null 2>&1',
            # and the peer MEETs this node where it sees it: Redis learns its own new
            # address only from a MEET it receives (its `myself` line kept the old one)
            f'  {cli} --user "$u" -h "$peer" -p {port} cluster meet "$myip" {port} {bus_port}'
            " >/dev/null 2>&1",
            "done",
        ]
    )


def with_heal(check: str, heal: str) -> str:
    """A health check ``check`` (exits 1 when unhealthy) followed by ``heal`` started in
    the background: the check's verdict and timing stay its own."""
    return f"{check}\nsh -c {shlex.quote(heal)} </dev/null >/dev/null 2>&1 &\nexit 0"
