"""Effects behind small interfaces: ``gateway.docker`` (aiodocker, the Docker Engine API)
and ``gateway.redis`` (redis.asyncio over TLS); ``gateway.endpoint`` is a pure value type.

Import from the submodules; this package re-exports nothing so that importing one
gateway never drags in the other's library.
"""
