"""Truth on the label map: the tumour-to-fascia distance per slice and the study's CRM boxes on positive slices."""

from __future__ import annotations

import numpy as np

from .labels import _MAX_CONTACT_MM, CRM_DISTANCE_MM, LUMEN, TUMOUR, WALL


def _distance_and_boxes(labels_ji: np.ndarray, fascia_line: np.ndarray, spacing_ij: tuple[float, float]):
    """Tumour-to-fascia distance (mm) on one slice and the study-style boxes (i0, j0, i1, j1) voxel edges.

    The distance is measured to the fascia line as drawn (where a tumour breaches the fascia, distance 0).
    Contact: fascia-line pixels within 1 mm of tumour. The contact is cut into pieces of at most
    ``_MAX_CONTACT_MM`` along the fascia (a long contact gets several boxes, as a reader draws them), and each
    piece gets a box around it grown across the fascia, into the tumour and beyond.
    """
    from scipy import ndimage

    tumour = labels_ji == TUMOUR
    if not tumour.any() or not fascia_line.any():
        return float("inf"), []
    sampling = (spacing_ij[1], spacing_ij[0])
    to_tumour = ndimage.distance_transform_edt(~tumour, sampling=sampling)
    distance = float(np.maximum(to_tumour[fascia_line] - 0.5 * min(sampling), 0.0).min())
    if distance > CRM_DISTANCE_MM:
        return distance, []
    contact = fascia_line & (to_tumour <= CRM_DISTANCE_MM + 0.5 * max(sampling))
    rows, columns = np.nonzero(contact)
    centre = np.argwhere(np.isin(labels_ji, (WALL, LUMEN))).mean(axis=0)
    offsets_mm = np.column_stack([(rows - centre[0]) * sampling[0], (columns - centre[1]) * sampling[1]])
    angles = np.arctan2(offsets_mm[:, 0], offsets_mm[:, 1])
    order = np.argsort(angles)
    rows, columns, angles = rows[order], columns[order], angles[order]
    radius_mm = float(np.hypot(*offsets_mm.T).mean())
    # start after the widest angular gap, so a contact crossing +-180 degrees stays in one piece
    gaps = np.diff(np.concatenate([angles, angles[:1] + 2 * np.pi]))
    first = (int(np.argmax(gaps)) + 1) % len(angles)
    rows, columns = np.roll(rows, -first), np.roll(columns, -first)
    arc_mm = np.unwrap(np.roll(angles, -first)) * radius_mm
    arc_mm -= arc_mm[0]
    pieces, start = [], 0
    for index in range(1, len(arc_mm)):
        if arc_mm[index] - arc_mm[index - 1] > 3.0 or arc_mm[index] - arc_mm[start] > _MAX_CONTACT_MM:
            pieces.append((start, index))  # a separate stretch, or long enough for one box
            start = index
    pieces.append((start, len(arc_mm)))
    boxes = []
    height, width = labels_ji.shape
    for first, last in pieces:
        if last - first < 2 or arc_mm[last - 1] - arc_mm[first] < 2.0:
            continue  # a touch of a pixel or two: part of a neighbouring piece's box already
        j0, j1 = rows[first:last].min(), rows[first:last].max() + 1
        i0, i1 = columns[first:last].min(), columns[first:last].max() + 1
        extent_mm = max((i1 - i0) * spacing_ij[0], (j1 - j0) * spacing_ij[1])
        margin_mm = float(np.clip(0.4 * extent_mm, 3.0, 8.0))  # across the fascia: into tumour and beyond
        grow_i, grow_j = margin_mm / spacing_ij[0], margin_mm / spacing_ij[1]
        boxes.append(
            (
                max(0.0, i0 - grow_i),
                max(0.0, j0 - grow_j),
                min(float(width), i1 + grow_i),
                min(float(height), j1 + grow_j),
            )
        )
    return distance, boxes
