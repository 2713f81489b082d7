"""Synthetic cervical-spine MRI cases (sagittal T2 and T1, oblique axial T2 blocks) with per-level ground truth.

Built SynthSeg-style (Billot et al., Medical Image Analysis 2023), like :mod:`assistcore.phantoms.brain`: the
anatomy is first drawn as a *label map*, then every tissue gets a random intensity per sample and contrast, and a
random bias field, partial volume across thick slices, in-plane blur, Rician noise, a random gamma and scale and a
random patient pose are applied. Contrast ordering follows clinical MRI loosely: CSF bright on T2 and dark on T1,
fat bright on T1, healthy nuclei bright on T2 and degenerated ones dark, ligaments and cortical bone dark on both.

**How the anatomy is built.** The spine is modelled in a *straightened* frame ``(x, p, h)`` in millimetres:
``x`` towards the patient's left, ``p`` posterior distance from the posterior vertebral body line, ``h`` arc
length along the spine, superior positive, 0 at the tip of the dens. In that frame bodies, discs, canal, dural
sac, cord and ligaments are rounded boxes, ellipses and bands, painted into a label volume of 1 x 0.5 x 0.5 mm
(x, p, h). The frame is bent onto a smooth midsagittal curve of random lordosis (lordotic, straightened or
kyphotic, with curvature varying along the neck), posed in the scanner by a random rotation and shift, and
sampled onto each acquisition grid (nearest neighbour, through a SimpleITK displacement-field transform) at
three sub-slices per thick slice; intensities are averaged over the sub-slices (partial volume), the middle
sub-slice gives the label map on the acquisition grid. Spondylolisthesis shifts everything above a motion segment
along ``p`` (ramped through the disc, which shears). Truth is measured on the painted label volume, so it says
what the images show.

**Labels** (:data:`SPINE_LABELS`, uint8): 0 background (air, also the airway), 1..10 vertebrae C1..T3 (body;
C1 anterior and posterior arches; C2 body with the dens), 11..18 discs C2/3..T2/T3 (herniated material
included), 19 ``dural_sac`` (CSF inside the thecal sac), 20 ``cord``, 21 ``PLL`` (posterior longitudinal
ligament), 22 ``LF`` (ligamentum flavum), 23 ``posterior_elements`` (pedicles, laminae, spinous processes of
C2..T3), 24 ``soft_tissue`` (muscle, fat, epidural fat).

**Grids.** Sagittal images: i runs anterior -> posterior, j superior -> inferior, k right -> left... precisely
``direction_lps = [[0, 0, -1], [1, 0, 0], [0, -1, 0]]`` columns i=(0,1,0) (P), j=(0,0,-1) (I), k=(-1,0,0) (R),
so slices are stacked from the patient's left to right. Axial blocks: k along the planned disc normal
(superior), i towards the patient's left, j posterior; one block per disc, a few thick slices centred on it.
Arrays are (k, j, i); geometry is LPS millimetres. Everything random is drawn from
``numpy.random.default_rng(seed)``, so a seed gives the same phantom.

**Modules**, in the order the generator runs them: :mod:`.plan` (sizes and findings), :mod:`.shape` (curve,
listhesis offsets, pose), :mod:`.world` and :mod:`.paint` (the straightened label volume and what is measured on
it), :mod:`.planning` (sagittal grid, axial blocks, displacement field), :mod:`.acquisition` (sampling and
rendering intensities), :mod:`.generate` (:func:`generate_spine_phantom` and the truth), :mod:`.output` (files
and montage); :mod:`.truth` holds the dataclasses, :mod:`.tissues` the intensity classes and base sizes. The
vocabulary (level names, label values, colours) lives in :mod:`assistcore.spine.labels`.
"""

from __future__ import annotations

from ...spine.labels import (
    CORD,
    DISCS,
    DURAL_SAC,
    FINDING_LEVELS,
    HERNIATION_TYPES,
    LABEL_COLORS_RGB,
    LABEL_OF,
    LF,
    PLL,
    POSTERIOR_ELEMENTS,
    SOFT_TISSUE,
    SPINE_LABELS,
    VERTEBRAE,
)
from .generate import generate_spine_phantom
from .output import render_spine_phantom_montage, write_spine_phantom_case
from .truth import SpineLevel, SpinePhantom, SpineVertebra

__all__ = [
    "CORD",
    "DISCS",
    "DURAL_SAC",
    "FINDING_LEVELS",
    "HERNIATION_TYPES",
    "LABEL_COLORS_RGB",
    "LABEL_OF",
    "LF",
    "PLL",
    "POSTERIOR_ELEMENTS",
    "SOFT_TISSUE",
    "SPINE_LABELS",
    "VERTEBRAE",
    "SpineLevel",
    "SpinePhantom",
    "SpineVertebra",
    "generate_spine_phantom",
    "render_spine_phantom_montage",
    "write_spine_phantom_case",
]
