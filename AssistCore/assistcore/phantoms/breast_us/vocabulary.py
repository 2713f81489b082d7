"""Breast-ultrasound phantom constants: box threshold, DICOM SOP class, BI-RADS descriptor values, lesion kinds."""

from __future__ import annotations

#: a lesion (or rib) cross-section is boxed on a frame once its mask covers this many pixels
MIN_BOX_PIXELS = 6
#: SOP class of the cine written by :func:`write_sweep_case` (Ultrasound Multi-frame Image Storage)
US_MULTIFRAME_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.3.1"
#: BI-RADS values used in the ``lesions`` descriptions
LESION_VALUES: dict[str, tuple[str, ...]] = {
    "shape": ("oval", "round", "irregular"),
    "margin": ("circumscribed", "indistinct", "microlobulated", "spiculated", "angular"),
    "orientation": ("parallel", "not_parallel"),
    "posterior_features": ("none", "enhancement", "shadowing", "mixed"),
    "internal_echo": ("anechoic", "hypoechoic", "isoechoic", "heterogeneous"),
}
# layer depths are drawn for a 38.4 mm deep field (256 rows of 0.15 mm) and scaled with the field's depth
_REFERENCE_DEPTH_MM = 38.4
# ribs (with their shadow and the pleura) fit only in fields at least this deep
_MIN_RIB_DEPTH_MM = 15.0
# lesion kinds and how often they are drawn
_KINDS = ("cyst", "benign_solid", "malignant_like", "small_low_contrast")
_KIND_P = (0.2, 0.3, 0.3, 0.2)
