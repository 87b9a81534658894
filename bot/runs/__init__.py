"""Runs: a workflow composed with its agents, models, budget, policy and checkpoints."""
