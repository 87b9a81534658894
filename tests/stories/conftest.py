"""The real sandbox (bubblewrap) for the stories' test runs."""

from tests.sandbox.conftest import sandbox

__all__ = ["sandbox"]
