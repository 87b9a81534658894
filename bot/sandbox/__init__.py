"""Running a repository's own code (its tests, its setup) under bubblewrap, with limits."""
