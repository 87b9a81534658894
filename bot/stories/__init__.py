"""Stories become pull requests: the developer loop, its tests run by the orchestrator, the PR."""
