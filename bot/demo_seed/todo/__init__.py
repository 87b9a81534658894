"""todo: one plain-text to-do list per directory."""
