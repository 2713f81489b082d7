"""Synthetic breast-ultrasound sweeps (B-mode cine of a linear probe) with per-frame lesion boxes.

Made for training and checking the per-frame lesion detector of BreastUSAssist: a probe sweeps across a 3D
breast phantom and each frame is the B-mode image of the plane it insonates. The phantom holds what the study's
readers see and what fools detectors: skin, subcutaneous fat lobules crossed by Cooper ligaments, heterogeneous
fibroglandular tissue with a wavy, scalloped surface and fat islands (hypoechoic, mass-like), the pectoralis
muscle (striated), and in some sweeps ribs in cross-section (bright curved surface, hypoechoic cartilage or bone,
dark acoustic shadow beneath: the classic false positive), the pleura below them. Lesions follow the BI-RADS
ultrasound lexicon (shape, margin, orientation, internal echo, posterior features); some are small and of low
contrast (the typical misses).

**Geometry.** World coordinates in millimetres: ``x`` lateral (0 at the left edge of the field when the probe is
not shifted), ``y`` depth below the skin, ``z`` elevation (the sweep direction, 0 at the first frame). Frame
``t`` samples the plane ``z = z_t + a_t (y - depth/2) + b_t (x - width/2)`` shifted laterally by ``shift_t``:
the probe moves by about ``elevation_step_mm`` per frame, drifts laterally by up to ~1.5 mm and tilts by a few
degrees over the sweep. Frames are ``(T, H, W)``: row 0 is the skin, column 0 the left of the image; pixel
``(x, y)`` (column, row) covers ``[x, x+1) x [y, y+1)`` pixel edges, its centre lies at ``((x + 0.5) s +
shift_t, (y + 0.5) s)`` mm with ``s = pixel_spacing_mm``.

**Tissue.** Every tissue field is evaluated on the frame's plane only (no 3D voxel volume): layer interfaces
and textures are Gaussian random fields written as sums of random 3D plane waves, which on a plane factor into
a small matrix product; lesions are 3D ellipsoids whose surface is modulated by harmonics on the sphere
(irregular, microlobulated), pointed cones (angular) or thin cones (spicules); ribs are elliptic cylinders
running roughly along the sweep. Adjacent frames therefore see the same anatomy a step apart: a lesion appears,
grows and shrinks over a run of consecutive frames.

**Echo formation.** The echogenicity map (amplitude, fibroglandular tissue = 1) is multiplied by fully developed
speckle (the magnitude of complex Gaussian noise smoothed more laterally than axially, Rayleigh distributed). The
speckle field lives on a canvas fixed in the tissue, so it moves with the probe, and decorrelates gradually from
frame to frame (an autoregressive mix with fresh speckle, the weight set by the elevation step). Excess
attenuation of lesions and ribs accumulates with depth (posterior shadowing, or enhancement behind cysts), an
electronic noise floor rises with depth (time-gain compensation amplifies it), the residual of an imperfect TGC,
a focal-zone gain and a per-sweep overall gain are added in dB, and log compression over a random dynamic range
maps the echo to display grey 0..1 (float32).

**Truth.** For each frame, each lesion whose cross-section (the hard mask ``inside the modulated surface``)
covers at least :data:`MIN_BOX_PIXELS` pixels gets its bounding box in pixel-edge coordinates ``x0, y0, x1, y1``;
rib cross-sections get theirs in ``rib_boxes_xy`` (confounders, not lesions). Lesion ``contrast`` is the ratio of
the lesion's mean echo amplitude to that of fibroglandular tissue, before log compression (``0.8`` is about
-2 dB, a faint lesion; cysts are near 0.05).

**Modules**: :mod:`.vocabulary` (constants), :mod:`.fields` (random fields, frame planes), :mod:`.lesion`
(BI-RADS lesions), :mod:`.plan` (everything drawn per sweep), :mod:`.render` (frames and boxes), :mod:`.sweep`
(:func:`generate_breast_sweep`), :mod:`.files` (DICOM cine and truth JSON).
"""

from __future__ import annotations

from ...breastus.cine import frames_to_uint8
from .files import read_sweep_truth, write_sweep_case
from .sweep import UltrasoundSweep, describe_breast_sweep, generate_breast_sweep
from .vocabulary import LESION_VALUES, MIN_BOX_PIXELS, US_MULTIFRAME_SOP_CLASS

__all__ = [
    "LESION_VALUES",
    "MIN_BOX_PIXELS",
    "US_MULTIFRAME_SOP_CLASS",
    "UltrasoundSweep",
    "describe_breast_sweep",
    "frames_to_uint8",
    "generate_breast_sweep",
    "read_sweep_truth",
    "write_sweep_case",
]
