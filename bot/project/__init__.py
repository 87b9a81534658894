"""The project service: runs chained into a plan, the sprint state, story issues, the board."""
