"""Git for the bot: one worktree per story in the repository's clone, kept tidy and within a cap."""
