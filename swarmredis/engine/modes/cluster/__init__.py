"""Redis Cluster mode (see ``mode.py`` for where each step lives)."""
