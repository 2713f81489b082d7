"""BreastUSAssist core: cine reading, per-frame lesion detection, fusion across frames, descriptors, evaluation."""
