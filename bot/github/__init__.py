"""Talking to GitHub as the App: credentials, installation tokens, API clients."""
