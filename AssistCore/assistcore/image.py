"""One image type carrying voxels and exact geometry in LPS.

Conventions (the same as SimpleITK/ITK, DICOM and nnU-Net):

* ``array_kji`` is the voxel array with axes (k, j, i): slice, row, column. Index (i, j, k) is the
  ITK continuous index; ``array_kji[k, j, i]`` is the voxel at that index.
* ``spacing_mm`` is (di, dj, dk) in millimetres, in index order i, j, k.
* ``origin_lps`` is the physical position (mm, LPS patient coordinates) of voxel (0, 0, 0)'s centre.
* ``direction_lps`` is a 3x3 matrix whose column c is the unit vector of index axis c in LPS.

So ``point_lps = origin_lps + direction_lps @ (spacing_mm * index_ijk)``. Only the Slicer adapters
convert to RAS.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # SimpleITK is imported lazily so `import assistcore` stays light
    import SimpleITK as sitk

#: Tolerance for comparing grids: ITK's own default coordinate tolerance is 1e-6 of spacing,
#: we allow a little more because DICOM positions are stored as decimal strings.
GRID_TOLERANCE_MM = 1e-4
DIRECTION_TOLERANCE = 1e-5


@dataclass(frozen=True)
class ImageMetadata:
    """Identifying information carried along with an image (empty strings when unknown)."""

    patient_id: str = ""
    study_description: str = ""
    series_description: str = ""
    modality: str = ""
    series_instance_uid: str = ""
    study_instance_uid: str = ""
    source_path: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Image:
    """A 3D image: voxels (k, j, i) plus geometry in LPS millimetres plus metadata."""

    array_kji: np.ndarray
    spacing_mm: tuple[float, float, float]
    origin_lps: tuple[float, float, float]
    direction_lps: np.ndarray
    metadata: ImageMetadata = field(default_factory=ImageMetadata)

    def __post_init__(self) -> None:
        self.spacing_mm = tuple(float(v) for v in self.spacing_mm)  # type: ignore[assignment]
        self.origin_lps = tuple(float(v) for v in self.origin_lps)  # type: ignore[assignment]
        self.direction_lps = np.asarray(self.direction_lps, dtype=np.float64).reshape(3, 3)
        if self.array_kji.ndim != 3:
            from .errors import GeometryError

            raise GeometryError(
                f"Image array must be 3D (k, j, i), got shape {self.array_kji.shape}"
                f"{' from ' + self.metadata.source_path if self.metadata.source_path else ''}.",
                "Provide a 3D volume, not a single slice or a multi-component image.",
            )

    # ----- shape and geometry ---------------------------------------------------------------
    @property
    def shape_kji(self) -> tuple[int, int, int]:
        """Array shape (k, j, i)."""
        return tuple(int(v) for v in self.array_kji.shape)  # type: ignore[return-value]

    @property
    def size_ijk(self) -> tuple[int, int, int]:
        """Number of voxels along i, j, k (SimpleITK's GetSize order)."""
        k, j, i = self.shape_kji
        return (i, j, k)

    def index_to_lps_matrix(self) -> np.ndarray:
        """4x4 homogeneous matrix mapping (i, j, k, 1) to (L, P, S, 1) in mm."""
        matrix = np.eye(4)
        matrix[:3, :3] = self.direction_lps @ np.diag(self.spacing_mm)
        matrix[:3, 3] = self.origin_lps
        return matrix

    def index_to_lps(self, index_ijk: np.ndarray) -> np.ndarray:
        """Map continuous indices (N, 3) in (i, j, k) order to LPS points (N, 3) in mm."""
        index_ijk = np.atleast_2d(np.asarray(index_ijk, dtype=np.float64))
        matrix = self.index_to_lps_matrix()
        return index_ijk @ matrix[:3, :3].T + matrix[:3, 3]

    def lps_to_index(self, points_lps: np.ndarray) -> np.ndarray:
        """Map LPS points (N, 3) in mm to continuous indices (N, 3) in (i, j, k) order."""
        points_lps = np.atleast_2d(np.asarray(points_lps, dtype=np.float64))
        matrix = np.linalg.inv(self.index_to_lps_matrix())
        return points_lps @ matrix[:3, :3].T + matrix[:3, 3]

    def slice_normal_lps(self) -> np.ndarray:
        """Unit vector of the k axis in LPS (the slice-stacking direction)."""
        return self.direction_lps[:, 2].copy()

    def same_grid(self, other: Image, tolerance_mm: float = GRID_TOLERANCE_MM) -> bool:
        """True when both images have the same size, spacing, origin and direction."""
        return (
            self.shape_kji == other.shape_kji
            and np.allclose(self.spacing_mm, other.spacing_mm, atol=tolerance_mm)
            and np.allclose(self.origin_lps, other.origin_lps, atol=tolerance_mm)
            and np.allclose(self.direction_lps, other.direction_lps, atol=DIRECTION_TOLERANCE)
        )

    def with_array(self, array_kji: np.ndarray, **metadata_changes: Any) -> Image:
        """A new image on this image's exact grid holding ``array_kji`` (same shape required)."""
        if tuple(array_kji.shape) != self.shape_kji:
            from .errors import GeometryError

            raise GeometryError(
                f"Array shape {tuple(array_kji.shape)} does not match the image grid {self.shape_kji}.",
                "Resample the array onto the reference grid first.",
            )
        metadata = replace(self.metadata, **metadata_changes) if metadata_changes else self.metadata
        return Image(array_kji, self.spacing_mm, self.origin_lps, self.direction_lps.copy(), metadata)

    def crop(self, box_kji: tuple[slice, slice, slice]) -> Image:
        """The sub-image ``array_kji[box_kji]`` (slices with steps of 1) on the same physical positions.

        Only the origin changes: it moves to the box's first voxel, so every cropped voxel keeps its LPS position.
        """
        starts = [0 if s.start is None else int(s.start) for s in box_kji]
        origin = self.index_to_lps(np.array([starts[2], starts[1], starts[0]], dtype=float))[0]
        return Image(self.array_kji[box_kji], self.spacing_mm, tuple(origin), self.direction_lps.copy(), self.metadata)

    # ----- SimpleITK bridge -----------------------------------------------------------------
    def to_sitk(self) -> sitk.Image:
        """A SimpleITK image with the same voxels and geometry (metadata not carried)."""
        import SimpleITK as sitk

        sitk_image = sitk.GetImageFromArray(np.ascontiguousarray(self.array_kji), isVector=False)
        sitk_image.SetSpacing(self.spacing_mm)
        sitk_image.SetOrigin(self.origin_lps)
        sitk_image.SetDirection(tuple(self.direction_lps.flatten()))
        return sitk_image

    @classmethod
    def from_sitk(cls, sitk_image: sitk.Image, metadata: ImageMetadata | None = None) -> Image:
        """Wrap a 3D scalar SimpleITK image (voxels copied into a numpy array (k, j, i))."""
        import SimpleITK as sitk

        from .errors import GeometryError

        source = metadata.source_path if metadata else ""
        where = f" in {source}" if source else ""
        if sitk_image.GetDimension() != 3:
            raise GeometryError(
                f"Expected a 3D image{where}, got {sitk_image.GetDimension()}D of size {sitk_image.GetSize()}.",
                "Provide a 3D volume (a DICOM series or a 3D NIfTI/NRRD/MHA file), not a single slice.",
            )
        if sitk_image.GetNumberOfComponentsPerPixel() != 1:
            raise GeometryError(
                f"Expected a scalar image{where}, "
                f"got {sitk_image.GetNumberOfComponentsPerPixel()} components per voxel.",
                "Convert colour or vector images to a single channel first.",
            )
        array_kji = sitk.GetArrayFromImage(sitk_image)
        direction = np.asarray(sitk_image.GetDirection(), dtype=np.float64).reshape(3, 3)
        return cls(array_kji, sitk_image.GetSpacing(), sitk_image.GetOrigin(), direction, metadata or ImageMetadata())
