"""Agent Orchestrator: a GitHub App that runs BMAD-method workflows with LLM agents."""

__version__ = "0.1.0"
