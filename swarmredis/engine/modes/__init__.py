"""Redis modes behind one protocol (``base.Mode``), found by ``registry.mode_for``."""
