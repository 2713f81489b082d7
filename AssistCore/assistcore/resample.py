"""Bringing sequences onto one grid: resampling and rigid registration with SimpleITK.

Images are :class:`assistcore.image.Image` (LPS). Transforms map points of the reference (fixed) image
to the moving image, as in ITK.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from .errors import GeometryError, InputError
from .image import Image

_INTERPOLATORS = ("linear", "nearest", "bspline")


def _interpolator(name: str):
    import SimpleITK as sitk

    table = {"linear": sitk.sitkLinear, "nearest": sitk.sitkNearestNeighbor, "bspline": sitk.sitkBSpline}
    if name not in table:
        raise InputError(f"Unknown interpolation {name!r}.", f"Use one of {', '.join(_INTERPOLATORS)}.")
    return table[name]


def resample_to_reference(
    moving: Image,
    reference: Image,
    interpolation: str = "linear",
    transform=None,
    default_value: float = 0.0,
) -> Image:
    """``moving`` resampled onto ``reference``'s exact grid (size, spacing, origin, direction).

    :param interpolation: ``linear`` for intensities, ``nearest`` for label maps, ``bspline`` for smooth images.
    :param transform: optional SimpleITK transform from reference to moving physical space (identity if None).
    :returns: an image with the reference's geometry, the moving image's metadata and pixel type.
    """
    import SimpleITK as sitk

    moving_sitk = moving.to_sitk()
    resampled = sitk.Resample(
        moving_sitk,
        reference.to_sitk(),
        transform if transform is not None else sitk.Transform(),
        _interpolator(interpolation),
        float(default_value),
        moving_sitk.GetPixelID(),
    )
    array = sitk.GetArrayFromImage(resampled)
    return Image(array, reference.spacing_mm, reference.origin_lps, reference.direction_lps.copy(), moving.metadata)


def resample_to_spacing(image: Image, spacing_mm: tuple[float, float, float], interpolation: str = "linear") -> Image:
    """``image`` on a grid with the same origin and direction and the given spacing (i, j, k), covering the
    same physical extent."""
    import SimpleITK as sitk

    size = [max(1, round(n * s / t)) for n, s, t in zip(image.size_ijk, image.spacing_mm, spacing_mm)]
    reference = sitk.Image(size, sitk.sitkUInt8)
    reference.SetSpacing(tuple(float(v) for v in spacing_mm))
    reference.SetOrigin(image.origin_lps)
    reference.SetDirection(tuple(image.direction_lps.flatten()))
    empty = Image.from_sitk(reference)
    return resample_to_reference(image, empty, interpolation)


@dataclass
class RigidRegistration:
    """A rigid (Euler 3D) transform from reference to moving space, with how well it fits."""

    angles_rad: tuple[float, float, float]
    translation_mm: tuple[float, float, float]
    center_lps: tuple[float, float, float]
    metric_value: float
    iterations: int
    stop_condition: str

    def transform(self):
        """The SimpleITK Euler3DTransform."""
        import SimpleITK as sitk

        euler = sitk.Euler3DTransform()
        euler.SetCenter(self.center_lps)
        euler.SetRotation(*self.angles_rad)
        euler.SetTranslation(self.translation_mm)
        return euler

    @property
    def rotation_degrees(self) -> float:
        """Total rotation angle in degrees."""
        matrix = np.asarray(self.transform().GetMatrix()).reshape(3, 3)
        return float(np.degrees(np.arccos(np.clip((np.trace(matrix) - 1) / 2, -1, 1))))


def register_rigid(
    moving: Image,
    fixed: Image,
    sampling_fraction: float = 0.1,
    iterations: int = 200,
    seed: int = 42,
    initialisation: str = "identity",
) -> RigidRegistration:
    """Rigidly register ``moving`` onto ``fixed`` with Mattes mutual information (works across MRI contrasts).

    Initialised with the identity (``initialisation="geometry"``: the images' centres aligned), three
    resolution levels (shrink 4, 2, 1 with smoothing 2, 1, 0 mm), regular-step gradient descent; the random
    sampling is seeded so the result is reproducible.
    """
    import SimpleITK as sitk

    fixed_sitk = sitk.Cast(fixed.to_sitk(), sitk.sitkFloat32)
    moving_sitk = sitk.Cast(moving.to_sitk(), sitk.sitkFloat32)
    # Series of one session share the scanner's patient coordinates, so start from the identity (rotation
    # about the fixed image's centre); start from the centred boxes only when asked (other sessions).
    if initialisation == "geometry":
        initial = sitk.CenteredTransformInitializer(
            fixed_sitk, moving_sitk, sitk.Euler3DTransform(), sitk.CenteredTransformInitializerFilter.GEOMETRY
        )
    else:
        initial = sitk.Euler3DTransform()
        center_index = (np.array(fixed.size_ijk, dtype=float) - 1) / 2
        initial.SetCenter(tuple(fixed.index_to_lps(center_index)[0]))
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=50)
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentage(sampling_fraction, seed)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=2.0, minStep=1e-4, numberOfIterations=iterations, relaxationFactor=0.6
    )
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel([4, 2, 1])
    method.SetSmoothingSigmasPerLevel([2.0, 1.0, 0.0])
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    method.SetInitialTransform(initial, inPlace=False)
    try:
        result = method.Execute(fixed_sitk, moving_sitk)
    except RuntimeError as error:
        raise GeometryError(
            f"Registration of {moving.metadata.source_path or 'the moving image'} onto "
            f"{fixed.metadata.source_path or 'the reference'} failed ({str(error).strip().splitlines()[-1]}).",
            "Check that both images show the same anatomy and overlap.",
        ) from error
    euler = sitk.Euler3DTransform(sitk.CompositeTransform(result).GetNthTransform(0).Downcast())
    return RigidRegistration(
        angles_rad=(euler.GetAngleX(), euler.GetAngleY(), euler.GetAngleZ()),
        translation_mm=tuple(euler.GetTranslation()),
        center_lps=tuple(euler.GetCenter()),
        metric_value=float(method.GetMetricValue()),
        iterations=int(method.GetOptimizerIteration()),
        stop_condition=method.GetOptimizerStopConditionDescription(),
    )


@dataclass
class AlignmentReport:
    """What was done to put one image on the reference grid."""

    action: str  # same_grid | resampled | registered
    registration: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def _overlap_fraction(moving: Image, reference: Image) -> float:
    """Fraction of the reference's corner box that lies inside the moving image's physical box (coarse)."""
    corners = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], dtype=float)
    size = np.array(reference.size_ijk, dtype=float) - 1
    reference_points = reference.index_to_lps(corners * size)
    moving_index = moving.lps_to_index(reference_points)
    inside = np.all((moving_index >= -0.5) & (moving_index <= np.array(moving.size_ijk) - 0.5), axis=1)
    return float(inside.mean())


def align_to_reference(moving: Image, reference: Image, register: bool = True) -> tuple[Image, AlignmentReport]:
    """Put ``moving`` on ``reference``'s grid: unchanged if the grids match, else (registered and) resampled."""
    if moving.same_grid(reference):
        return moving, AlignmentReport("same_grid")
    if not register:
        return resample_to_reference(moving, reference), AlignmentReport("resampled")
    registration = register_rigid(moving, reference)
    aligned = resample_to_reference(moving, reference, transform=registration.transform())
    details = asdict(registration)
    details["rotation_degrees"] = registration.rotation_degrees
    return aligned, AlignmentReport("registered", details)


def check_same_grid(images: dict[str, Image]) -> None:
    """Raise :class:`GeometryError` naming the first pair of images whose grids differ, and how."""
    names = list(images)
    first = images[names[0]]
    for name in names[1:]:
        other = images[name]
        if other.same_grid(first):
            continue
        differences = []
        if other.shape_kji != first.shape_kji:
            differences.append(f"size {other.size_ijk} vs {first.size_ijk}")
        if not np.allclose(other.spacing_mm, first.spacing_mm, atol=1e-4):
            differences.append(f"spacing {np.round(other.spacing_mm, 4)} vs {np.round(first.spacing_mm, 4)}")
        if not np.allclose(other.origin_lps, first.origin_lps, atol=1e-4):
            differences.append(f"origin {np.round(other.origin_lps, 3)} vs {np.round(first.origin_lps, 3)}")
        if not np.allclose(other.direction_lps, first.direction_lps, atol=1e-5):
            differences.append("direction differs")
        raise GeometryError(
            f"{name} and {names[0]} are on different grids: {'; '.join(differences)}.",
            "Resample one onto the other (assistcore.resample.align_to_reference) or give matching series.",
        )
