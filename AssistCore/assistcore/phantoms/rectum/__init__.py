"""Synthetic rectal-cancer axial T2 phantoms for training and checking CRMAssist (SynthSeg-style).

Each phantom is drawn as a label map first, slice by slice in millimetres around the rectum: body outline
with subcutaneous fat, pelvic bones (sacrum, ischia), muscles (obturator internus, levator ani, gluteal),
bladder and the anterior organ (prostate or vagina), the mesorectum (fat with small nodes and vessels)
closed by the mesorectal fascia (a thin dark line), the rectal wall (bright submucosa, dark muscularis)
and lumen (gas or gel), and optionally a tumour growing from the wall through the muscularis into the
mesorectal fat with an irregular margin. Intensities are then drawn per label at random around T2-like
values (fat bright on plain T2, dark with fat suppression), with texture, a bias field, blur and Rician
noise.

Truth is what the label map shows: the tumour-to-fascia distance is measured on each slice (2D distance
transform, mm) and a slice is CRM-positive when it is 1 mm or less. Boxes follow the source study: on each
positive slice, one box per stretch of tumour-fascia contact, centred on it and spanning across the fascia,
about half over tumour and half over the tissue beyond. Boxes are :class:`assistcore.annotations.Box`
objects on the T2 grid (one slice thick, oriented with the volume).

Arrays are (k, j, i); geometry is LPS millimetres (:class:`assistcore.image.Image`). Axial slices: i runs
towards the patient's left, j posterior, k superior, with a random tilt of a few degrees.

**Modules**: :mod:`.labels` (label values, intensity ranges), :mod:`.anatomy` (the drawn case and its label
slices), :mod:`.truth` (tumour-to-fascia distance and boxes), :mod:`.generate` (:func:`generate_rectal_phantom`
and the case files).
"""

from __future__ import annotations

from .generate import RectalPhantom, generate_rectal_phantom, write_rectal_phantom_case
from .labels import (
    AIR,
    ANTERIOR,
    BLADDER,
    BONE,
    CRM_DISTANCE_MM,
    FASCIA,
    LUMEN,
    MESO_FAT,
    MUSCLE,
    NODE,
    PELVIC_FAT,
    PELVIS_LABELS,
    SUBCUT,
    TUMOUR,
    WALL,
)

__all__ = [
    "AIR",
    "ANTERIOR",
    "BLADDER",
    "BONE",
    "CRM_DISTANCE_MM",
    "FASCIA",
    "LUMEN",
    "MESO_FAT",
    "MUSCLE",
    "NODE",
    "PELVIC_FAT",
    "PELVIS_LABELS",
    "SUBCUT",
    "TUMOUR",
    "WALL",
    "RectalPhantom",
    "generate_rectal_phantom",
    "write_rectal_phantom_case",
]
