"""What a run computes: sources, detection, summaries, storage and the pipeline.

This package never imports :mod:`alerts` or :mod:`worker` and never reads settings or
the environment; everything it needs arrives as arguments.
"""
