"""Synthetic brain tumour cases: a real brain (MNI ICBM152 2009a, shipped in nilearn's wheel) with drawn tumours.

Built the way SynthSeg builds its training data (Billot et al., Medical Image Analysis 2023): every sample
starts from *label maps* (anatomy plus lesions), then each tissue's intensity is drawn at random per contrast,
and a random bias field, random slice thickness with blur, Rician noise, a random head pose and a random
intensity scale are applied. Contrasts keep the typical ordering of clinical MRI only loosely (edema bright on
FLAIR and T2, enhancing tumour bright on T1c but not on T1, necrosis dark on T1c and bright on T2, CSF dark on
FLAIR and bright on T2), so a network learns shapes and relative contrast, not absolute values.

Tumour labels use the project's region convention (:mod:`assistcore.brain.regions`, the BraTS 2023 values):
**0** background, **1** non-enhancing tumour (necrosis, cyst, solid non-enhancing), **2** edema,
**3** enhancing tumour (in extra-axial, meningioma-like tumours also the thickened enhancing meninges of the
dural tail). The regions nest: tumour body = {1, 3}, whole tumour = {1, 2, 3}.

Anatomy labels (:data:`ANATOMY_NAMES`): 0 background, 1 CSF (ventricles, sulci, the layer under the skull),
2 grey matter, 3 white matter, 4 skull, 5 scalp.

Arrays are (k, j, i); images carry LPS geometry. The template's axes are kept (i towards the patient's right,
j towards anterior, k towards superior, so k-slices are axial); the head gets a random rigid pose inside that
grid. Everything random comes from ``numpy.random.default_rng(seed)``, so a seed gives the same phantom.

**Modules**: :mod:`.tissues` (labels, intensity classes), :mod:`.template` (the MNI anatomy), :mod:`.grid`
(grids, boxes, smooth fields), :mod:`.lesions` (sites, sizes, mass effect), :mod:`.lesion_drawing` (one
lesion's labels), :mod:`.intensities` (contrasts), :mod:`.generate` (:func:`generate_brain_phantom`),
:mod:`.phantom` (the result, files and montage).
"""

from __future__ import annotations

from .generate import generate_brain_phantom
from .phantom import LABEL_COLORS_RGB, BrainPhantom, render_phantom_montage, write_phantom_case
from .template import TemplateAnatomy, template_anatomy, template_folder
from .tissues import (
    ANATOMY_NAMES,
    BACKGROUND,
    CSF,
    GREY,
    ROLES,
    SCALP,
    SKULL,
    TEMPLATE_FILE,
    TUMOR_TYPES,
    WHITE,
)

__all__ = [
    "ANATOMY_NAMES",
    "BACKGROUND",
    "CSF",
    "GREY",
    "LABEL_COLORS_RGB",
    "ROLES",
    "SCALP",
    "SKULL",
    "TEMPLATE_FILE",
    "TUMOR_TYPES",
    "WHITE",
    "BrainPhantom",
    "TemplateAnatomy",
    "generate_brain_phantom",
    "render_phantom_montage",
    "template_anatomy",
    "template_folder",
    "write_phantom_case",
]
