"""Box detectors shared by the assistants: network builders, inference, training loop, training data."""
