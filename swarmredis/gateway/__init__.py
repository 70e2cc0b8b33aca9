"""Effects behind small interfaces: ``gateway.redis`` (redis.asyncio over TLS).

Import from the submodules; this package re-exports nothing so that importing one
gateway never drags in the other's library.
"""
