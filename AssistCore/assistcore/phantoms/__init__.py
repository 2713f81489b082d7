"""Synthetic phantoms with known ground truth, built SynthSeg-style (label maps first, random contrasts).

Each generator is a package split by step, and gives the same sample for the same seed
(``Testing/test_phantom_hashes.py`` holds them to the samples the bundled demo models were trained on):

- :mod:`assistcore.phantoms.brain`: brain tumour cases (T1, T1c, T2, FLAIR and BraTS 2023 labels) drawn into
  the MNI ICBM152 template shipped with nilearn;
- :mod:`assistcore.phantoms.spine`: cervical spine MRI (sagittal T2/T1, oblique axial T2 blocks) with
  per-level findings; its vocabulary lives in :mod:`assistcore.spine.labels`;
- :mod:`assistcore.phantoms.rectum`: rectal cancer axial T2 with CRM truth and boxes;
- :mod:`assistcore.phantoms.breast_us`: breast-ultrasound B-mode sweeps with per-frame lesion boxes.
"""
