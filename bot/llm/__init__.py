"""The layer every agent calls: model clients behind one protocol, retries, cost, budgets."""
