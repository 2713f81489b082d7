"""Tissue intensity classes, their mean intensities per contrast, and the base sizes of the cervical spine.

Intensity classes are finer than labels (cortex vs marrow, nucleus vs annulus, fat vs muscle); the painted
world holds ``label << CODE_SHIFT | class``. Sizes in mm; the straightened world frame is (x, p, h).
"""

from __future__ import annotations

import numpy as np

_AIR, _MUSCLE, _FAT, _MARROW, _CORTEX, _ANNULUS, _NUCLEUS, _NUCLEUS_DEG, _CSF, _CORD, _LIGAMENT = range(11)
#: (low, high) mean intensity per class for T1 and T2; each sample draws one mean per class and contrast from
#: the range widened by ``_JITTER``.
_MEAN_RANGES = {
    #              T1            T2
    _AIR: ((0.00, 0.00), (0.00, 0.00)),
    _MUSCLE: ((0.28, 0.42), (0.18, 0.32)),
    _FAT: ((0.80, 1.00), (0.55, 0.85)),  # bright on T1 (and on fast spin-echo T2)
    _MARROW: ((0.50, 0.78), (0.32, 0.55)),  # fatty marrow
    _CORTEX: ((0.03, 0.12), (0.02, 0.10)),
    _ANNULUS: ((0.22, 0.36), (0.12, 0.28)),
    _NUCLEUS: ((0.30, 0.45), (0.70, 0.95)),  # hydrated nucleus: bright on T2
    _NUCLEUS_DEG: ((0.25, 0.40), (0.22, 0.42)),  # desiccated: dark on T2
    _CSF: ((0.05, 0.20), (0.85, 1.00)),
    _CORD: ((0.40, 0.55), (0.38, 0.55)),
    _LIGAMENT: ((0.05, 0.18), (0.03, 0.14)),
}
_JITTER = 0.05
_CODE_SHIFT = 5  # painted volume holds label * 32 + class in uint16: one nearest-neighbour resampling gives both

#: Base sizes (mm) per vertebra: AP depth of the body (endplate length), width, body height.
_BODY_SIZES = {
    "C2": (15.0, 17.0, 16.0),
    "C3": (15.0, 17.0, 13.5),
    "C4": (15.5, 18.0, 13.5),
    "C5": (16.0, 19.0, 13.5),
    "C6": (16.5, 20.5, 14.0),
    "C7": (17.0, 22.0, 15.0),
    "T1": (17.5, 25.0, 16.5),
    "T2": (18.0, 26.0, 18.0),
    "T3": (19.0, 27.0, 19.0),
}
_DISC_HEIGHTS = {
    "C2/3": 4.5,
    "C3/4": 5.0,
    "C4/5": 5.5,
    "C5/6": 5.5,
    "C6/7": 5.5,
    "C7/T1": 5.0,
    "T1/T2": 4.0,
    "T2/T3": 4.0,
}
_SPINOUS_LENGTHS = {
    "C2": 24.0,
    "C3": 16.0,
    "C4": 17.0,
    "C5": 18.0,
    "C6": 22.0,
    "C7": 32.0,
    "T1": 30.0,
    "T2": 28.0,
    "T3": 26.0,
}
_WORLD_SPACING = (1.0, 0.5, 0.5)  # x, p, h (mm)
_WORLD_X = (-62.0, 62.0)
_WORLD_P = (-62.0, 94.0)
_MAX_CURVATURE = 1.0 / 110.0  # 1/mm: keeps the straightened frame one-to-one over the world's p range
_SCANNER_OFFSET_LPS = np.array([0.0, 20.0, 0.0])
