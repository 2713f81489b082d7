"""Brain phantom labels and tissue intensity classes with their mean intensity ranges per contrast."""

from __future__ import annotations

import numpy as np

BACKGROUND, CSF, GREY, WHITE, SKULL, SCALP = 0, 1, 2, 3, 4, 5
ANATOMY_NAMES = {
    BACKGROUND: "background",
    CSF: "CSF",
    GREY: "grey matter",
    WHITE: "white matter",
    SKULL: "skull",
    SCALP: "scalp",
}
ROLES = ("t1", "t1c", "t2", "flair")
TUMOR_TYPES = ("intra-axial", "extra-axial")
TEMPLATE_FILE = "mni_icbm152_{}_tal_nlin_sym_09a_converted.nii.gz"

# Intensity classes (rows of the contrast tables). Tumour classes refine the labels: necrosis, cyst and
# solid non-enhancing tumour are all label 1 but look different (a cyst is CSF-like, dark on FLAIR).
_BG, _CSF, _GREY, _WHITE, _BONE, _SCALP, _NECROSIS, _CYST, _SOLID, _EDEMA, _ENHANCING, _MENINGIOMA = range(12)
_CLASS_OF_ANATOMY = np.array([_BG, _CSF, _GREY, _WHITE, _BONE, _SCALP], dtype=np.int8)

#: Mean intensity ranges (low, high) per class for T1, T2 and FLAIR, white matter around 0.3-0.8. Each sample
#: draws one mean per class and contrast from its range widened by ``_JITTER``, so ordering holds loosely.
_MEAN_RANGES = {
    #             T1            T2            FLAIR
    _BG: ((0.00, 0.00), (0.00, 0.00), (0.00, 0.00)),
    _CSF: ((0.08, 0.25), (0.85, 1.00), (0.03, 0.15)),  # dark on FLAIR (fluid suppressed), bright on T2
    _GREY: ((0.40, 0.55), (0.45, 0.62), (0.45, 0.60)),
    _WHITE: ((0.60, 0.80), (0.30, 0.45), (0.35, 0.48)),
    _BONE: ((0.02, 0.12), (0.02, 0.10), (0.02, 0.10)),  # cortical bone gives almost no signal
    _SCALP: ((0.60, 1.00), (0.45, 0.85), (0.45, 0.85)),  # fat: bright on T1
    _NECROSIS: ((0.10, 0.30), (0.70, 0.95), (0.35, 0.70)),
    _CYST: ((0.05, 0.22), (0.85, 1.00), (0.05, 0.30)),  # fluid-like
    _SOLID: ((0.30, 0.48), (0.60, 0.82), (0.62, 0.90)),
    _EDEMA: ((0.32, 0.50), (0.62, 0.85), (0.72, 1.00)),  # bright on T2 and FLAIR
    _ENHANCING: ((0.35, 0.55), (0.45, 0.70), (0.55, 0.80)),
    _MENINGIOMA: ((0.38, 0.55), (0.45, 0.70), (0.45, 0.65)),  # about grey matter before contrast
}
#: T1 post-contrast: the T1 value times a small gain for tissue that does not take up gadolinium; these ranges
#: for the classes that do (enhancing tumour, meningioma).
_T1C_ENHANCING_RANGES = {_ENHANCING: (0.85, 1.30), _MENINGIOMA: (0.90, 1.35)}
_JITTER = 0.05
