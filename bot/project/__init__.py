"""The project: its sprint state (sprint-status.yaml, one writer) and the status issue."""
