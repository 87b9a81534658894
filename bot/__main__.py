"""`python -m bot` is the `orchestrator` command."""

from bot.cli import main

raise SystemExit(main())
