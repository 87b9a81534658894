"""`/ao` commands: finding them in comments, and the registry later issues extend."""
