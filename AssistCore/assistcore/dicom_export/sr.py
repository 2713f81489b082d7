"""DICOM Comprehensive 3D SR holding a TID 1500 measurement report of one report version.

One measurement group per finding (tracking identifier = the finding id, e.g. "C3/4"): numbers with a code
become measurements with UCUM units, categories and yes/no findings become qualitative evaluations; the
group references the linked slice's image, a finding's point becomes 3D coordinates (SCOORD3D POINT) on its
measurements, a CRM box a planar ROI (SCOORD3D POLYGON), a cine box a closed SCOORD POLYLINE on its frame.
The observer context names the reader (person) and the model (device); a signed report is written COMPLETE and
VERIFIED by its signer.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import __version__
from ..reports.model import UNIT_MEANINGS, VOLUME, Finding, ReportContent
from .seg import MANUFACTURER
from .source import SourceSeries

PROCEDURES = {
    "spine": ("113091000", "SCT", "Magnetic resonance imaging"),
    "crm": ("113091000", "SCT", "Magnetic resonance imaging"),
    "brain": ("113091000", "SCT", "Magnetic resonance imaging"),
    "breast_us": ("16310003", "SCT", "Ultrasonography"),
}
YES = ("373066001", "SCT", "Yes")
NO = ("373067005", "SCT", "No")


def _concept(code: str, scheme: str, meaning: str):
    import highdicom as hd

    return hd.sr.CodedConcept(value=str(code)[:16], scheme_designator=scheme, meaning=str(meaning)[:64])


def person_name(name: str) -> str:
    """A DICOM PN from a display name: 'Dr A. Reader' -> 'Reader^Dr A.' (family name last word)."""
    if "^" in name or not name.strip():
        return name.strip() or "Unknown^Reader"
    *given, family = name.split()
    return f"{family}^{' '.join(given)}" if given else family


def _measurements(finding: Finding, algorithm, coordinates) -> tuple[list, list]:
    import highdicom as hd

    measurements, evaluations = [], []
    for value in finding.values.values():
        if value.code is None or value.value is None or value.value == "":
            continue
        name = _concept(value.code["code"], value.code["scheme"], value.code["meaning"])
        if isinstance(value.value, bool):
            evaluations.append(hd.sr.QualitativeEvaluation(name, _concept(*(YES if value.value else NO))))
        elif isinstance(value.value, (int, float)):
            unit = value.unit or "1"
            measurements.append(
                hd.sr.Measurement(
                    name=name,
                    value=float(value.value),
                    unit=_concept(unit, "UCUM", UNIT_MEANINGS.get(unit, unit)),
                    algorithm_id=algorithm,
                    referenced_coordinates=coordinates,
                )
            )
        else:
            text = str(value.value)
            evaluations.append(hd.sr.QualitativeEvaluation(name, _concept(text.upper(), "99RADAS", text)))
    return measurements, evaluations


def _on_slice_plane(points_lps: np.ndarray, series: SourceSeries, link) -> np.ndarray:
    """Points (N, 3) projected onto the plane of the linked slice: the results store corners rounded to 0.001 mm,
    which leaves an oblique box slightly off-plane, and SR polygons must be coplanar."""
    dataset = series.dataset_for_slice(link.slice_index if link.slice_index is not None else 0) or series.datasets[0]
    origin = np.asarray(dataset.ImagePositionPatient, dtype=float)
    normal = series.image.slice_normal_lps()
    return points_lps - np.outer((points_lps - origin) @ normal, normal)


def _region(link, series: SourceSeries, slice_dataset, frames):
    """The finding's region: a CRM box as a 3D polygon on its oblique slice, a cine box as a 2D polygon on its
    frame (a closed POLYLINE: 2D SCOORD has no POLYGON); None for findings with a point or no place."""
    import highdicom as hd

    if link.polygon_lps:
        polygon = _on_slice_plane(np.asarray(link.polygon_lps + link.polygon_lps[:1], dtype=float), series, link)
        return hd.sr.ImageRegion3D("POLYGON", polygon, series.frame_of_reference_uid)
    if link.box_xy and slice_dataset is not None:
        x0, y0, x1, y1 = link.box_xy  # pixel-edge coordinates; SCOORD (1, 1) is the top-left pixel's centre
        corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]], dtype=float) + 0.5
        return hd.sr.ImageRegion(
            "POLYLINE", corners, hd.sr.SourceImageForRegion.from_source_image(slice_dataset, frames)
        )
    return None


def _group(finding: Finding, series: SourceSeries | None, algorithm):
    """One TID 1501 (or TID 1410 with a region) measurement group for a finding."""
    import highdicom as hd

    link = finding.link
    coordinates = None
    if series is not None and not series.is_cine and link.point_lps is not None and not link.polygon_lps:
        point = np.asarray([link.point_lps], dtype=float)
        coordinates = [hd.sr.CoordinatesForMeasurement3D("POINT", point, series.frame_of_reference_uid)]
    measurements, evaluations = _measurements(finding, algorithm, coordinates)
    tracking = hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=finding.finding_id)
    slice_dataset = series.dataset_for_slice(link.slice_index) if series and link.slice_index is not None else None
    frames = series.frame_numbers(link.slice_index) if slice_dataset is not None else None
    region = _region(link, series, slice_dataset, frames) if series is not None else None
    common = {
        "tracking_identifier": tracking,
        "measurements": measurements or None,
        "qualitative_evaluations": evaluations or None,
        "algorithm_id": algorithm,
    }
    if region is not None:
        return hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(referenced_region=region, **common)
    source_image = None
    if slice_dataset is not None:
        source_image = [hd.sr.SourceImageForMeasurementGroup.from_source_image(slice_dataset, frames)]
    return hd.sr.MeasurementsAndQualitativeEvaluations(source_images=source_image, **common)


def _referenced_segment(segmentation, segment_number: int) -> Any:
    """``hd.sr.ReferencedSegment`` of segment ``segment_number`` of SEG dataset ``segmentation``, with its source
    images. A SEG with one segment identifies it once, in the shared functional groups, which highdicom's
    ``ReferencedSegment.from_segmentation`` (0.28) does not read: then every frame is that segment's, and its
    source images are those of every frame's derivation."""
    import highdicom as hd

    frames = segmentation.PerFrameFunctionalGroupsSequence
    if all("SegmentIdentificationSequence" in frame for frame in frames):
        return hd.sr.ReferencedSegment.from_segmentation(segmentation, segment_number)
    sources: dict[str, Any] = {}
    for frame in frames:
        for derivation in getattr(frame, "DerivationImageSequence", []):
            for image in getattr(derivation, "SourceImageSequence", []):
                sources.setdefault(
                    image.ReferencedSOPInstanceUID,
                    hd.sr.SourceImageForSegmentation(image.ReferencedSOPClassUID, image.ReferencedSOPInstanceUID),
                )
    return hd.sr.ReferencedSegment(
        segmentation.SOPClassUID, segmentation.SOPInstanceUID, segment_number, source_images=list(sources.values())
    )


def _segment_group(segment: dict, algorithm) -> Any:
    """A TID 1411 volumetric ROI group: one SEG segment (referenced by SOP instance and number) and its volume."""
    import highdicom as hd

    label = segment["label"]
    return hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=f"segment {label.name}"[:64]),
        referenced_segment=_referenced_segment(segment["segmentation"], segment["segment_number"]),
        finding_type=_concept(label.type.code, label.type.scheme, label.type.meaning),
        measurements=[
            hd.sr.Measurement(
                name=_concept(VOLUME["code"], VOLUME["scheme"], VOLUME["meaning"]),
                value=segment["volume_ml"],
                unit=_concept("mL", "UCUM", "milliliter"),
                algorithm_id=algorithm,
            )
        ],
        algorithm_id=algorithm,
    )


def _nothing_found_group(algorithm) -> Any:
    """The one measurement group of a report without findings (a cine where no lesion reached the threshold):
    "Finding: absent". TID 1500 needs at least one group, and the reader's "nothing found" is a result too."""
    import highdicom as hd

    absent = hd.sr.QualitativeEvaluation(_concept("121071", "DCM", "Finding"), _concept("2667000", "SCT", "Absent"))
    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier="no findings"),
        qualitative_evaluations=[absent],
        algorithm_id=algorithm,
    )


def build_measurement_report(
    version: dict, sources: dict[str, SourceSeries], observer: str, segments: list[dict] | None = None
) -> Any:
    """A highdicom Comprehensive3DSR of a report version (``{"version", "status", "content", "signature"}``).

    :param sources: the report's series names -> loaded source series (findings on other series keep their
        values but reference no image).
    :param observer: the reader's name (person observer); the model is the device observer.
    :param segments: SEG segments with their volume (see ``segment_volumes``): one volumetric ROI group each.
    """
    import highdicom as hd
    from pydicom.sr.codedict import codes

    content = ReportContent.from_dict(version["content"])
    model = content.model
    algorithm = hd.sr.AlgorithmIdentification(
        name=str(model.get("model_id") or "radassist")[:64], version=str(model.get("model_version") or __version__)[:64]
    )
    device = hd.sr.DeviceObserverIdentifyingAttributes(
        uid=hd.UID(),
        name=str(model.get("model_id") or "radassist")[:64],
        manufacturer_name=MANUFACTURER,
        model_name=str(model.get("model_name") or "RadAssist")[:64],
    )
    signature = version.get("signature") or {}
    reader = person_name(observer or signature.get("name", ""))
    context = hd.sr.ObservationContext(
        observer_person_context=hd.sr.ObserverContext(
            observer_type=codes.DCM.Person,
            observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(name=reader),
        ),
        observer_device_context=hd.sr.ObserverContext(
            observer_type=codes.DCM.Device, observer_identifying_attributes=device
        ),
    )
    groups = [_group(finding, sources.get(finding.link.series), algorithm) for finding in content.findings]
    groups += [_segment_group(segment, algorithm) for segment in segments or []]
    groups = [group for group in groups if group is not None] or [_nothing_found_group(algorithm)]
    report = hd.sr.MeasurementReport(
        observation_context=context,
        procedure_reported=_concept(*PROCEDURES[content.assistant]),
        imaging_measurements=groups,
    )
    signed = version.get("status") == "signed"
    evidence = [dataset for series in sources.values() for dataset in series.datasets]
    evidence += list({id(item["segmentation"]): item["segmentation"] for item in segments or []}.values())
    document = hd.sr.Comprehensive3DSR(
        evidence=evidence,
        content=report,
        series_instance_uid=hd.UID(),
        series_number=902,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        is_complete=signed,
        is_final=signed,
        is_verified=signed,
        verifying_observer_name=reader if signed else None,
        verifying_organization="RadAssist reader" if signed else None,
        series_description=f"RadAssist report v{version['version']} {content.title}"[:64],
    )
    document.CodingSchemeIdentificationSequence = [_local_coding_scheme()]
    return document


def _local_coding_scheme():
    """Declares the private scheme 99RADAS (quantities with no SNOMED CT/DCM code), as PS3.3 C.12.1.1.3 asks."""
    from pydicom.dataset import Dataset

    item = Dataset()
    item.CodingSchemeDesignator = "99RADAS"
    item.CodingSchemeName = "RadAssist local codes"
    item.CodingSchemeResponsibleOrganization = "RadAssist"
    return item
