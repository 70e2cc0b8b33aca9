"""Primary + replicas + Sentinel mode (see ``mode.py`` for where each step lives)."""
