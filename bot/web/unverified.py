"""The memory that requests not yet authenticated may hold, all together, against a cap.

A client that sends complete headers and then trickles its body, without knowing the webhook
secret, must not pile up memory: every body being read counts here until its request ends.
"""

from __future__ import annotations

#: Four deliveries of GitHub's largest size at once; more are asked to redeliver (503).
MAX_UNVERIFIED_BYTES = 100 * 1024 * 1024


class Unverified:
    """How many bytes of unverified bodies the server holds now, against a cap."""

    def __init__(self, limit: int = MAX_UNVERIFIED_BYTES) -> None:
        self.limit = limit
        self.held = 0

    def take(self, size: int) -> bool:
        if self.held + size > self.limit:
            return False
        self.held += size
        return True

    def give_back(self, size: int) -> None:
        self.held -= size
