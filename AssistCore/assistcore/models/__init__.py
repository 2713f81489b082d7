"""The in-process model runtime: model cards, registry, checksums, device policy, loading, runner.

Nothing here imports torch at module level; the functions that need it import it.
"""
