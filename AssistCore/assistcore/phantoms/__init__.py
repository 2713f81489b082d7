"""Synthetic phantoms with known ground truth, built SynthSeg-style (label maps first, random contrasts)."""
