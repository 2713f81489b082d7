"""Detector training data: pictures with boxes from LabelImg (Pascal VOC XML) folders and COCO JSON files.

A sample is one picture as the detector sees it: grey values 0..1, shape (y, x), with boxes (N, 4) as
(x0, y0, x1, y1) pixel edges. PNGs exported here are exactly that picture (8-bit).
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic import atomic_path, write_text_atomic
from ..errors import InputError


@dataclass
class PictureSample:
    """One training picture (screen_y, screen_x) float32 0..1 and its boxes (N, 4) x0, y0, x1, y1 in pixels."""

    picture: np.ndarray
    boxes_xy: np.ndarray
    source: str = ""
    case_id: str = ""


def read_grey_picture(path: Path) -> np.ndarray:
    from PIL import Image as PILImage

    try:
        with PILImage.open(path) as picture:
            array = np.asarray(picture.convert("I;16") if picture.mode.startswith("I;16") else picture.convert("L"))
    except (OSError, ValueError) as error:
        raise InputError(f"Cannot read picture {path} ({error}).", "Give PNG or JPEG slice pictures.") from error
    scale = 65535.0 if array.dtype == np.uint16 else 255.0
    return (array.astype(np.float32) / scale).clip(0.0, 1.0)


def read_voc_folder(folder: str | os.PathLike[str], positive_names: Iterable[str] | None = None) -> list[PictureSample]:
    """Every ``*.xml`` (LabelImg Pascal VOC) in ``folder`` with its picture; a picture without XML is a negative.

    Objects whose ``name`` is not a positive name are ignored (a reader's other classes; ``positive_names``
    None takes every object). Boxes are VOC pixel
    coordinates (xmin, ymin, xmax, ymax, 1-based inclusive in the VOC convention; LabelImg writes them as
    0-based edges in practice, so they are taken as edges).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"Training folder {folder} does not exist.", "Give a folder of pictures with VOC XML boxes.")
    names = None if positive_names is None else set(positive_names)
    samples = []
    annotated = set()
    for xml_path in sorted(folder.glob("*.xml")):
        try:
            root = ElementTree.parse(xml_path).getroot()
        except ElementTree.ParseError as error:
            raise InputError(f"Cannot parse {xml_path} ({error}).", "Fix or remove the broken XML file.") from error
        file_name = root.findtext("filename") or xml_path.with_suffix(".png").name
        picture_path = folder / file_name
        if not picture_path.is_file():
            matches = [p for p in folder.glob(xml_path.stem + ".*") if p.suffix.lower() in (".png", ".jpg", ".jpeg")]
            if not matches:
                raise InputError(
                    f"{xml_path} names {file_name}, which is not in {folder}.", "Keep pictures beside XML."
                )
            picture_path = matches[0]
        boxes = []
        for item in root.iter("object"):
            if names is not None and (item.findtext("name") or "").strip() not in names:
                continue
            box = item.find("bndbox")
            boxes.append([float(box.findtext(key)) for key in ("xmin", "ymin", "xmax", "ymax")])
        annotated.add(picture_path.name)
        samples.append(
            PictureSample(read_grey_picture(picture_path), np.array(boxes, float).reshape(-1, 4), str(xml_path))
        )
    for picture_path in sorted(folder.glob("*.png")) + sorted(folder.glob("*.jpg")):
        if picture_path.name not in annotated:
            samples.append(PictureSample(read_grey_picture(picture_path), np.zeros((0, 4)), str(picture_path)))
    return samples


def read_coco(
    annotation_path: str | os.PathLike[str], image_root: str | os.PathLike[str] | None = None
) -> list[PictureSample]:
    """A COCO detection JSON: every image with its boxes (``bbox`` is x, y, width, height in pixels)."""
    annotation_path = Path(annotation_path)
    try:
        document = json.loads(annotation_path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise InputError(f"Cannot read COCO file {annotation_path} ({error}).", "Give a COCO JSON file.") from error
    root = Path(image_root) if image_root else annotation_path.parent
    boxes_by_image: dict[int, list] = {}
    for annotation in document.get("annotations", []):
        x, y, width, height = annotation["bbox"]
        boxes_by_image.setdefault(annotation["image_id"], []).append([x, y, x + width, y + height])
    return [
        PictureSample(
            read_grey_picture(root / entry["file_name"]),
            np.array(boxes_by_image.get(entry["id"], []), float).reshape(-1, 4),
            str(root / entry["file_name"]),
        )
        for entry in document.get("images", [])
    ]


def write_voc(
    xml_path: Path, picture_name: str, size_yx: tuple[int, int], boxes_xy: np.ndarray, name: str = "lesion"
) -> Path:
    """A LabelImg-compatible Pascal VOC XML for one picture (boxes as pixel edges, rounded)."""
    root = ElementTree.Element("annotation")
    ElementTree.SubElement(root, "folder").text = xml_path.parent.name
    ElementTree.SubElement(root, "filename").text = picture_name
    size = ElementTree.SubElement(root, "size")
    for key, value in (("width", size_yx[1]), ("height", size_yx[0]), ("depth", 1)):
        ElementTree.SubElement(size, key).text = str(value)
    ElementTree.SubElement(root, "segmented").text = "0"
    for x0, y0, x1, y1 in np.asarray(boxes_xy, float).reshape(-1, 4):
        item = ElementTree.SubElement(root, "object")
        ElementTree.SubElement(item, "name").text = name
        ElementTree.SubElement(item, "pose").text = "Unspecified"
        ElementTree.SubElement(item, "truncated").text = "0"
        ElementTree.SubElement(item, "difficult").text = "0"
        box = ElementTree.SubElement(item, "bndbox")
        for key, value in (("xmin", x0), ("ymin", y0), ("xmax", x1), ("ymax", y1)):
            ElementTree.SubElement(box, key).text = str(round(float(value)))
    ElementTree.indent(root)
    return write_text_atomic(xml_path, ElementTree.tostring(root, encoding="unicode"))


def export_voc(
    samples: list[PictureSample], folder: str | os.PathLike[str], prefix: str = "", name: str = "lesion"
) -> list[Path]:
    """Write each sample as ``<prefix><n>.png`` (8-bit) plus its VOC XML into ``folder``; return the XML paths."""
    from PIL import Image as PILImage

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for number, sample in enumerate(samples):
        stem = f"{prefix}{sample.case_id + '_' if sample.case_id else ''}{number:04d}"
        with atomic_path(folder / f"{stem}.png") as temporary:
            PILImage.fromarray((sample.picture * 255.0 + 0.5).astype(np.uint8)).save(temporary, format="PNG")
        written.append(write_voc(folder / f"{stem}.xml", f"{stem}.png", sample.picture.shape, sample.boxes_xy, name))
    return written


def resize_sample(sample: PictureSample, shorter_side: int) -> PictureSample:
    """The sample resized (bilinear) so its shorter side is ``shorter_side`` pixels, boxes scaled with it."""
    from PIL import Image as PILImage

    height, width = sample.picture.shape
    scale = shorter_side / min(height, width)
    if abs(scale - 1.0) < 1e-6:
        return sample
    size_xy = (round(width * scale), round(height * scale))
    picture = np.asarray(
        PILImage.fromarray(np.ascontiguousarray(sample.picture, dtype=np.float32)).resize(size_xy, PILImage.BILINEAR)
    )
    boxes = np.asarray(sample.boxes_xy, np.float32).reshape(-1, 4) * np.float32(scale)
    return PictureSample(np.clip(picture, 0.0, 1.0).astype(np.float32), boxes, sample.source, sample.case_id)
