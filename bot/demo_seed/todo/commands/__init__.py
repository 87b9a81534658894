"""The commands: `todo/commands/NAME.py` is `todo NAME`, with `run(items, args) -> int`."""
