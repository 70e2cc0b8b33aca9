"""observe -> plan -> apply -> bootstrap -> health: the effectful steps, in anyio task groups."""
