"""The Python API: each workflow end to end (the CLI only calls these)."""
