"""SpineAssist core: cervical levels, disc planes, axial slice mapping, per-level findings and their models."""
