"""The bench harness: searchers x tabular benchmarks x seeds, with cached runs, tables and plots.

Run ``python -m benchmarks --help`` (``make bench`` runs the default grid).
"""
