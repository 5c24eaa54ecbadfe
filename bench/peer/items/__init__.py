"""The peer's one app: an item table and the three views that read one item."""
