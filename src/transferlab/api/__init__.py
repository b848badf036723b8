"""The Python API: each workflow end to end; the CLI only parses flags and calls these.

workflows.py: fit, compare, rank (they train or score; settings are RunConfig fields).
saved.py:     evaluate, predict, export, report (they use a trained model or run folder).
objects.py:   Run, Comparison, Ranking (what those return: metrics, model, run folder, table).
resume.py:    which settings a resumed fit may repeat or change.
runner.py, compare.py: one strategy end to end, and several judged against scratch.
"""
