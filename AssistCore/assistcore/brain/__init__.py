"""BrainTumorLabel core: regions and label conventions, QA checks, agreement (pure numpy/scipy)."""
