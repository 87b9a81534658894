"""A local, stateful stand-in for the part of GitHub the orchestrator uses.

It serves GitHub's REST routes on 127.0.0.1, sends signed webhooks back to the App, and is held
to GitHub's published OpenAPI and webhook descriptions. The tests run the bot against it, and
`orchestrator demo` runs the product on it with no account and no key.
"""

from githubsim.server import GitHubSim

__all__ = ["GitHubSim"]
