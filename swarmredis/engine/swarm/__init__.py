"""Swarm effects that know no Redis mode: observe, apply, converge, remove, jobs."""
