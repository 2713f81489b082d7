"""Synthetic phantoms with known ground truth, built SynthSeg-style (label maps first, random contrasts).

:mod:`assistcore.phantoms.brain`: brain tumour cases (T1, T1c, T2, FLAIR and BraTS 2023 labels) drawn into
the MNI ICBM152 template shipped with nilearn.
"""
