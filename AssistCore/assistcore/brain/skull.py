"""Brain masks for inputs that were not skull-stripped: the MNI ICBM152 2009a brain mask registered onto them.

Models trained in BraTS space (CaPTk's DeepMedic) saw skull-stripped sequences only; on a whole head they
label skull and scalp. The template and its mask ship at 2 mm (``assistcore/data/mni152_2009a_*_2mm.nii.gz``,
written by ``Utilities/make_mni_brain_template.py`` from nilearn's copy; the MNI notice is in
THIRD_PARTY_NOTICES.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..image import Image

DATA = Path(__file__).resolve().parents[1] / "data"
TEMPLATE_T1 = DATA / "mni152_2009a_t1_2mm.nii.gz"
TEMPLATE_MASK = DATA / "mni152_2009a_brainmask_2mm.nii.gz"
#: (from, to) mm outside the template's brain -> T1 value of a 0..255 template: CSF and bone dark, scalp bright
HEAD_LAYERS_MM = (((0.0, 7.0), 15.0), ((7.0, 13.0), 170.0))
#: the template's T1 contrast matches T1 best; mutual information copes with the others
REGISTRATION_ORDER = ("t1", "t1c", "flair", "t2")


def looks_skull_stripped(array_kji: np.ndarray) -> bool:
    """Zero outside the brain, as BraTS-style inputs are: between 2 % and 60 % of the voxels non-zero.

    A whole head in its field of view has noise (non-zero) nearly everywhere outside the head as well.
    """
    nonzero = float(np.count_nonzero(array_kji)) / max(1, array_kji.size)
    return 0.02 < nonzero < 0.6


def brain_mask_for(images: dict[str, Image]) -> tuple[np.ndarray | None, str]:
    """A brain mask (k, j, i) bool on the images' common grid, or None when they are already skull-stripped,
    and a sentence for the report saying which mask was used."""
    if all(looks_skull_stripped(image.array_kji) for image in images.values()):
        return None, "none needed: the inputs are skull-stripped (zero outside the brain)"
    role = next(role for role in REGISTRATION_ORDER if role in images)
    return register_template_mask(images[role]), (
        f"MNI ICBM152 2009a brain mask registered onto the {role.upper()} (affine, mutual information): the "
        "inputs were not skull-stripped"
    )


def register_template_mask(fixed: Image) -> np.ndarray:
    """The template brain mask on ``fixed``'s grid (k, j, i) bool: the template T1 registered onto ``fixed``
    (similarity, then affine; Mattes mutual information, three resolution levels), the mask resampled
    through that transform (linear, above 0.5)."""
    import SimpleITK as sitk

    fixed_sitk = sitk.Cast(fixed.to_sitk(), sitk.sitkFloat32)
    mask = sitk.Cast(sitk.ReadImage(str(TEMPLATE_MASK)), sitk.sitkFloat32)
    template = _template_with_head(sitk.ReadImage(str(TEMPLATE_T1)), mask)
    transform = sitk.CenteredTransformInitializer(
        fixed_sitk, template, sitk.Similarity3DTransform(), sitk.CenteredTransformInitializerFilter.MOMENTS
    )
    for stage in (transform, sitk.AffineTransform(3)):
        if isinstance(stage, sitk.AffineTransform):  # start the affine stage from the similarity result
            stage.SetMatrix(transform.GetMatrix())
            stage.SetTranslation(transform.GetTranslation())
            stage.SetCenter(transform.GetCenter())
        method = sitk.ImageRegistrationMethod()
        method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=32)
        method.SetMetricSamplingStrategy(method.RANDOM)
        method.SetMetricSamplingPercentage(0.05, 7)
        method.SetInterpolator(sitk.sitkLinear)
        method.SetOptimizerAsRegularStepGradientDescent(1.0, 1e-4, 150, relaxationFactor=0.6)
        method.SetOptimizerScalesFromPhysicalShift()
        method.SetShrinkFactorsPerLevel([4, 2, 1])
        method.SetSmoothingSigmasPerLevel([4.0, 2.0, 1.0])
        method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
        method.SetInitialTransform(stage, inPlace=True)
        method.Execute(fixed_sitk, template)
        transform = stage
    on_fixed = sitk.Resample(mask, fixed_sitk, transform, sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    return sitk.GetArrayFromImage(on_fixed) > 0.5


def _template_with_head(template, mask):
    """The skull-stripped template with a T1-like head drawn around its brain: layers of cerebrospinal fluid
    and bone (dark) and scalp (bright) at :data:`HEAD_LAYERS_MM`. Without them, registering onto a whole
    head stretches the template's brain out to the scalp."""
    import SimpleITK as sitk
    from scipy import ndimage

    brain = sitk.GetArrayFromImage(mask) > 0.5
    values = sitk.GetArrayFromImage(template).astype(np.float32)
    outside_mm = ndimage.distance_transform_edt(~brain, sampling=np.asarray(template.GetSpacing()[::-1], float))
    for (start_mm, stop_mm), value in HEAD_LAYERS_MM:
        values[(outside_mm > start_mm) & (outside_mm <= stop_mm)] = value
    head = sitk.GetImageFromArray(values)
    head.CopyInformation(template)
    return head
