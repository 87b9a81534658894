"""The project: plans (runs chained phase after phase), the sprint state (one writer), the board."""
