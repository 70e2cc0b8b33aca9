"""Stack files: YAML text -> validated, frozen ``Stack`` (errors carry file and field path).

The section models (``Network``, ``Placement``, ``TLS``...) live in ``swarmredis.stackfile.model``.
"""

from swarmredis.stackfile.load import load_stack, parse_stack
from swarmredis.stackfile.model import Stack, User
from swarmredis.stackfile.topology import LogicalNode, topology

__all__ = [
    "LogicalNode",
    "Stack",
    "User",
    "load_stack",
    "parse_stack",
    "topology",
]
