"""Linking 2D detections across slices or frames into regions (CRM: 3D regions; ultrasound: fused lesions).

Boxes are (x0, y0, x1, y1) in one coordinate system shared by all frames (voxel-edge (i, j) for slices of
one series, pixels for cine frames). Two boxes are linked when their frames are at most ``max_gap`` apart
and their IoU reaches ``iou_threshold``; a region is a connected group of linked boxes (union-find).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .metrics import box_iou


@dataclass
class FrameBoxes:
    """The boxes (N, 4) and scores (N,) found on one frame (slice) ``index``."""

    index: int
    boxes: np.ndarray
    scores: np.ndarray


@dataclass
class LinkedRegion:
    """A group of boxes on consecutive (or nearby) frames that overlap: one lesion seen several times.

    ``members``: (frame index, box row on that frame) pairs, in frame order. ``peak_*``: the best box.
    ``union_box``: the smallest box holding every member box.
    """

    region_id: int
    members: list[tuple[int, int]]
    first_index: int
    last_index: int
    peak_index: int
    peak_row: int
    peak_score: float
    mean_score: float
    union_box: tuple[float, float, float, float]

    @property
    def n_frames(self) -> int:
        return len({frame for frame, _row in self.members})

    def to_dict(self) -> dict:
        return {
            "region_id": self.region_id,
            "first_index": self.first_index,
            "last_index": self.last_index,
            "n_frames": self.n_frames,
            "peak_index": self.peak_index,
            "peak_score": round(self.peak_score, 4),
            "mean_score": round(self.mean_score, 4),
            "union_box": [round(v, 2) for v in self.union_box],
            "members": [list(member) for member in self.members],
        }


def _find(parent: list[int], node: int) -> int:
    while parent[node] != node:
        parent[node] = parent[parent[node]]
        node = parent[node]
    return node


def link_boxes(
    frames: Sequence[FrameBoxes], iou_threshold: float = 0.3, max_gap: int | None = 1, min_score: float = 0.0
) -> list[LinkedRegion]:
    """Group boxes across frames by IoU; regions sorted by peak score (highest first), ids from 1.

    :param iou_threshold: link two boxes whose IoU is at least this.
    :param max_gap: link only boxes whose frame indices differ by 1..max_gap (1: adjacent slices, as a 3D
        region must be contiguous); None links any two frames (decision-level fusion of a cine sweep).
        Boxes on the same frame are never linked directly (NMS already separated them).
    :param min_score: ignore boxes scoring below this.
    """
    nodes: list[tuple[int, int, np.ndarray, float]] = []  # (frame index, row, box, score)
    for frame in frames:
        for row, (box, score) in enumerate(zip(np.asarray(frame.boxes).reshape(-1, 4), np.asarray(frame.scores))):
            if score >= min_score:
                nodes.append((int(frame.index), row, box.astype(float), float(score)))
    if not nodes:
        return []
    parent = list(range(len(nodes)))
    frame_of = np.array([node[0] for node in nodes])
    all_boxes = np.stack([node[2] for node in nodes])
    by_frame: dict[int, np.ndarray] = {int(f): np.flatnonzero(frame_of == f) for f in np.unique(frame_of)}
    frame_list = sorted(by_frame)
    for position, frame in enumerate(frame_list):
        for other in frame_list[position + 1 :]:
            if max_gap is not None and other - frame > max_gap:
                break
            here, there = by_frame[frame], by_frame[other]
            overlaps = box_iou(all_boxes[here], all_boxes[there]) >= iou_threshold
            for a, b in zip(*np.nonzero(overlaps)):
                root_a, root_b = _find(parent, int(here[a])), _find(parent, int(there[b]))
                if root_a != root_b:
                    parent[root_b] = root_a
    groups: dict[int, list[int]] = {}
    for node in range(len(nodes)):
        groups.setdefault(_find(parent, node), []).append(node)
    regions = []
    for members in groups.values():
        members.sort(key=lambda node: (nodes[node][0], nodes[node][1]))
        scores = np.array([nodes[node][3] for node in members])
        best = members[int(np.argmax(scores))]
        boxes = all_boxes[members]
        regions.append(
            LinkedRegion(
                region_id=0,
                members=[(nodes[node][0], nodes[node][1]) for node in members],
                first_index=nodes[members[0]][0],
                last_index=nodes[members[-1]][0],
                peak_index=nodes[best][0],
                peak_row=nodes[best][1],
                peak_score=float(scores.max()),
                mean_score=float(scores.mean()),
                union_box=(*boxes[:, :2].min(axis=0).tolist(), *boxes[:, 2:].max(axis=0).tolist()),
            )
        )
    regions.sort(key=lambda region: (-region.peak_score, region.first_index))
    for number, region in enumerate(regions, start=1):
        region.region_id = number
    return regions
