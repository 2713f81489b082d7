"""DICOM SEG (binary, one segment per label value present) from a label map on its source DICOM series.

Segment codes come from the project's label tables (``assistcore/data/*_labels.json`` or a case's
``<case>_labels.json``): category, type and anatomic region as SNOMED CT / DCM codes, the same ones Slicer's
terminology shows. Segment numbers are 1..N in label-value order; ``segment_label_values`` maps them back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..errors import GeometryError, InputError
from ..image import Image
from ..labels import LabelDefinition
from .source import SourceSeries

MANUFACTURER = "RadAssist"


def _coded(concept) -> object:
    import highdicom as hd

    return hd.sr.CodedConcept(value=concept.code, scheme_designator=concept.scheme, meaning=concept.meaning)


def _cielab(rgb: tuple[float, float, float]):
    """The label's display colour (0..1 RGB) as DICOM's CIELab recommended display value."""
    from highdicom.color import CIELabColor

    return CIELabColor.from_rgb(*[round(c * 255) for c in rgb])


def segment_descriptions(labels: list[LabelDefinition], model: dict) -> list[Any]:
    """highdicom SegmentDescriptions, numbered 1..N in the order of ``labels``, with the model as the algorithm."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    algorithm = hd.AlgorithmIdentificationSequence(
        name=str(model.get("model_id") or "radassist")[:64],
        family=codes.cid7162.ArtificialIntelligence,
        version=str(model.get("model_version") or __version__)[:64],
    )
    descriptions = []
    for number, label in enumerate(labels, start=1):
        descriptions.append(
            hd.seg.SegmentDescription(
                segment_number=number,
                segment_label=label.name[:64],
                segmented_property_category=_coded(label.category),
                segmented_property_type=_coded(label.type),
                algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
                algorithm_identification=algorithm,
                anatomic_regions=[_coded(label.anatomic_region)] if label.anatomic_region else None,
                tracking_id=f"{label.name} ({label.value})"[:64],
                tracking_uid=hd.UID(),
                display_color=_cielab(label.color_rgb),
            )
        )
    return descriptions


def reversed_k(image: Image) -> Image:
    """The same voxels on the grid with the k axis reversed (origin at the last slice, k direction negated)."""
    direction = np.asarray(image.direction_lps, dtype=float).copy()
    origin = image.index_to_lps(np.array([0.0, 0.0, image.shape_kji[0] - 1.0]))[0]
    direction[:, 2] = -direction[:, 2]
    return Image(np.asarray(image.array_kji)[::-1].copy(), image.spacing_mm, tuple(origin), direction)


def build_segmentation(
    label_image: Image, labels: list[LabelDefinition], source: SourceSeries, model: dict, label_file: str = "label map"
) -> tuple[Any, dict[int, int]]:
    """A highdicom Segmentation of ``label_image`` (integer labels, arrays (k, j, i)) on ``source``.

    :raises GeometryError: the label map is not on the source series' grid (nothing is resampled).
    :raises InputError: the label map holds a value the label table does not define, or no label at all.
    :returns: (segmentation dataset, {segment number: label value}).
    """
    import highdicom as hd

    if source.reversed_k:
        label_image = reversed_k(label_image)
    if not label_image.same_grid(source.image):
        raise GeometryError(
            f"{label_file} (size {list(label_image.size_ijk)}, "
            f"spacing {np.round(label_image.spacing_mm, 3).tolist()}) "
            f"is not on the grid of source series {source.name!r} in {source.folder} (size "
            f"{list(source.image.size_ijk)}, spacing {np.round(source.image.spacing_mm, 3).tolist()}); "
            "nothing written.",
            "Export the label map of that series, or give the DICOM series the label map was computed on.",
        )
    array = np.asarray(label_image.array_kji)
    present = [int(value) for value in np.unique(array) if value != 0]
    by_value = {label.value: label for label in labels}
    unknown = [value for value in present if value not in by_value]
    if unknown:
        raise InputError(f"{label_file} holds label values {unknown} that its label table does not define.")
    if not present:
        raise InputError(f"{label_file} is empty (no labelled voxel): no DICOM SEG to write.")
    used = [by_value[value] for value in present]
    segment_numbers = np.zeros(max(present) + 1, dtype=np.uint16)
    for number, label in enumerate(used, start=1):
        segment_numbers[label.value] = number
    pixel_array = segment_numbers[array.astype(np.int64)]
    segmentation = hd.seg.Segmentation(
        source_images=source.datasets,
        pixel_array=pixel_array.astype(np.uint8 if len(used) < 256 else np.uint16),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=segment_descriptions(used, model),
        series_instance_uid=hd.UID(),
        series_number=901,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=str(model.get("model_name") or model.get("model_id") or "RadAssist")[:64],
        software_versions=f"radassist {__version__}",
        device_serial_number="0",
        series_description=f"RadAssist SEG {label_file}"[:64],
        omit_empty_frames=False,
    )
    return segmentation, {number: label.value for number, label in enumerate(used, start=1)}


def read_segmentation_labels(path: str | Path, source: SourceSeries) -> np.ndarray:
    """Label values (k, j, i) of a SEG on ``source`` (segment numbers mapped back to our label values through the
    segments' tracking IDs ``"<name> (<value>)"``)."""
    import highdicom as hd

    segmentation = hd.seg.segread(str(path))
    uids = [str(dataset.SOPInstanceUID) for dataset in source.datasets]
    numbers = segmentation.get_pixels_by_source_instance(source_sop_instance_uids=uids, combine_segments=True)
    lookup = np.zeros(int(max(segmentation.segment_numbers)) + 1, dtype=np.int32)
    for number in segmentation.segment_numbers:
        tracking_id = str(segmentation.get_segment_description(number).TrackingID)
        lookup[number] = int(tracking_id.rsplit("(", 1)[1].rstrip(")"))
    return lookup[np.asarray(numbers)]
