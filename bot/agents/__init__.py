"""The agents the engine hands its steps to: personas, a pool, confined tools, decisions."""
