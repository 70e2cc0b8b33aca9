"""PURE planning: ``Stack`` -> desired Swarm objects (+hash); observed -> diff -> ``Plan``.

Nothing here does I/O or imports anyio, aiodocker, redis or the CLI.
"""

from swarmredis.plan.diff import Change, Plan, diff
from swarmredis.plan.objects import DesiredObject, resolve_references
from swarmredis.plan.observe import (
    ObservedObject,
    SwarmNode,
    observed_objects,
    previous_assignment,
    swarm_node,
)
from swarmredis.plan.placement import Assignment, place, slot_ranges
from swarmredis.plan.state import DesiredState, desired_state, required_material

__all__ = [
    "Assignment",
    "Change",
    "DesiredObject",
    "DesiredState",
    "ObservedObject",
    "Plan",
    "SwarmNode",
    "desired_state",
    "diff",
    "observed_objects",
    "place",
    "previous_assignment",
    "required_material",
    "resolve_references",
    "slot_ranges",
    "swarm_node",
]
