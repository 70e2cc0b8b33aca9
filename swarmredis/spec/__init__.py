"""Stack files: YAML text -> validated, frozen ``Stack`` (errors carry file and field path).

The section models (``Network``, ``Placement``, ``TLS``...) live in ``swarmredis.spec.model``.
"""

from swarmredis.spec.load import load_stack, parse_stack
from swarmredis.spec.model import Stack, User
from swarmredis.spec.topology import LogicalNode, topology

__all__ = [
    "LogicalNode",
    "Stack",
    "User",
    "load_stack",
    "parse_stack",
    "topology",
]
