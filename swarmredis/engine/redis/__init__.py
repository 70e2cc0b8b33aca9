"""Talking to Redis nodes: fan-out and connections, reply parsers, the one reader of a
node's facts, probes, and the health verdict model."""
