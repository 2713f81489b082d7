"""BreastUSAssist cines in MRML: frames written as a sequence with its browser, a loaded sequence browser read back
as a cine, and the pipeline run on it in a worker thread.

Frame geometry: see :mod:`AssistCoreLib.breastUs` (one-slice volumes, identity LPS direction, pixel (0, 0) at the
origin, the cine's pixel spacing or 1 mm when unknown).

No Qt, no ``slicer.mrmlScene``: the browser node is passed in, so this runs headless on the slicer-core wheel.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from assistcore.errors import InputError
from assistcore.image import Image

from .volumes import _imageData, ijkToRASMatrix

#: Cine.kind of a cine taken from a sequence loaded in Slicer
SEQUENCE_KIND = "slicer_sequence"
#: the sequence attribute saying its pixel spacing is a stand-in ("false": 1 mm for an unknown spacing)
SPACING_KNOWN_ATTRIBUTE = "RadAssist.BreastUS.PixelSpacingKnown"
#: value of the sequence's index when the cine has no frame time (the frame number is the index)
FRAME_INDEX_NAME = "frame"


def frameImage(frameHW: np.ndarray, pixelSpacingMm=None) -> Image:
    """One frame (H, W) as a one-slice image: identity LPS direction, pixel (0, 0) centred on the origin,
    spacing (column, row, column) from ``pixelSpacingMm`` = (row, column) mm, or 1 mm when None."""
    rowMm, columnMm = (float(v) for v in pixelSpacingMm) if pixelSpacingMm is not None else (1.0, 1.0)
    array = np.asarray(frameHW)[np.newaxis]
    return Image(array, (columnMm, rowMm, columnMm), (0.0, 0.0, 0.0), np.eye(3))


def _indexValue(frameIndex: int, frameTimeMs) -> str:
    if frameTimeMs is None:
        return str(frameIndex)
    return f"{frameIndex * float(frameTimeMs):.3f}".rstrip("0").rstrip(".")


def addCineSequence(scene, framesThw: np.ndarray, cineInfo: dict, caseId: str, sequencesLogic=None):
    """The (T, H, W) frames as a sequence of one-slice volumes, its browser and proxy volume (window 0..1).

    :param cineInfo: the document's ``cine`` entry (``pixel_spacing_mm`` (row, column), ``frame_time_ms``).
    :returns: (sequence, browser, proxy volume) nodes.
    """
    import slicer

    spacing = cineInfo.get("pixel_spacing_mm")
    frameTimeMs = cineInfo.get("frame_time_ms")
    sequence = scene.AddNewNodeByClass("vtkMRMLSequenceNode", scene.GenerateUniqueName(f"{caseId}_cine"))
    sequence.SetIndexType(sequence.NumericIndex)
    sequence.SetIndexName("time" if frameTimeMs is not None else FRAME_INDEX_NAME)
    sequence.SetIndexUnit("ms" if frameTimeMs is not None else "")
    sequence.SetAttribute(SPACING_KNOWN_ATTRIBUTE, "true" if spacing is not None else "false")
    for index, frame in enumerate(framesThw):
        image = frameImage(frame, spacing)
        volume = slicer.vtkMRMLScalarVolumeNode()  # not in the scene: the sequence keeps a copy
        volume.SetAndObserveImageData(_imageData(image.array_kji))
        volume.SetIJKToRASMatrix(ijkToRASMatrix(image))
        sequence.SetDataNodeAtValue(volume, _indexValue(index, frameTimeMs))
    browser = scene.AddNewNodeByClass("vtkMRMLSequenceBrowserNode", scene.GenerateUniqueName(f"{caseId}_browser"))
    browser.SetAndObserveMasterSequenceNodeID(sequence.GetID())
    if sequencesLogic is not None:
        sequencesLogic.UpdateProxyNodesFromSequences(browser)
    proxy = browser.GetProxyNode(sequence)
    if proxy is None:  # no Sequences logic: a proxy showing frame 0 (it follows the browser once a logic runs)
        proxy = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", scene.GenerateUniqueName(f"{caseId}_cine"))
        proxy.CopyContent(sequence.GetNthDataNode(0))
        browser.AddProxyNode(proxy, sequence, False)
    proxy.CreateDefaultDisplayNodes()
    display = proxy.GetDisplayNode()
    display.AutoWindowLevelOff()
    display.SetWindowLevelMinMax(0.0, 1.0)  # frames are 0..1
    browser.SetSelectedItemNumber(0)
    return sequence, browser, proxy


def _grey(array: np.ndarray) -> np.ndarray:
    """(H, W[, C]) pixels as one grey float32 plane (colour by luminance)."""
    if array.ndim == 3:
        if array.shape[-1] >= 3:
            return (array[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])).astype(np.float32)
        array = array[..., 0]
    return array.astype(np.float32)


def _scaled01(frames: np.ndarray, dtype) -> np.ndarray:
    """The whole cine on 0..1 with one scale (frames keep their relative brightness): 8-bit by 255, values
    already in 0..1 as they are, anything else by the cine's minimum and maximum."""
    if np.dtype(dtype) == np.uint8:
        return frames / np.float32(255.0)
    low, high = float(frames.min()), float(frames.max())
    if low >= 0.0 and high <= 1.0:
        return frames
    return (frames - low) / np.float32(high - low) if high > low else np.zeros_like(frames)


def framesFromBrowser(browserNode) -> dict[str, Any]:
    """The browser's master sequence as cine arrays: {"frames" (T, H, W) float32 0..1, "pixel_spacing_mm"
    (row, column) or None, "frame_time_ms" or None, "source": name}.

    Frames are the volumes' first (only) slice as stored (row 0 first); colour is turned to grey. The frame time
    comes from a numeric index in ms or s. The pixel spacing is the volumes' unless the sequence says it is a
    stand-in (made by :func:`addBreastUsResultToScene` for a cine without one).

    :raises InputError: no browser, no volumes in its sequence, volumes of several slices or different sizes.
    """
    from vtkmodules.util import numpy_support

    sequence = browserNode.GetMasterSequenceNode() if browserNode is not None else None
    if sequence is None or sequence.GetNumberOfDataNodes() == 0:
        raise InputError("Select a sequence browser holding the cine's frames.", "Load the cine into Slicer first.")
    frames, spacing, dtype = [], None, np.float32
    for index in range(sequence.GetNumberOfDataNodes()):
        node = sequence.GetNthDataNode(index)
        if node is None or not node.IsA("vtkMRMLScalarVolumeNode") or node.GetImageData() is None:
            raise InputError(f"Item {index} of sequence {sequence.GetName()} is not an image volume.")
        imageData = node.GetImageData()
        columns, rows, slices = imageData.GetDimensions()
        if slices != 1:
            raise InputError(f"Item {index} of sequence {sequence.GetName()} has {slices} slices, not one frame.")
        components = imageData.GetNumberOfScalarComponents()
        array = numpy_support.vtk_to_numpy(imageData.GetPointData().GetScalars())
        array = array.reshape((rows, columns) if components == 1 else (rows, columns, components))
        frames.append(_grey(array))
        spacing, dtype = spacing or node.GetSpacing(), array.dtype
    if len({frame.shape for frame in frames}) != 1:
        raise InputError(f"The frames of sequence {sequence.GetName()} differ in size.")
    frameTimeMs = None
    unit = (sequence.GetIndexUnit() or "").strip().lower()
    if sequence.GetIndexType() == sequence.NumericIndex and unit in ("ms", "s") and len(frames) > 1:
        values = [float(sequence.GetNthIndexValue(index)) for index in range(len(frames))]
        frameTimeMs = float(np.median(np.diff(values))) * (1000.0 if unit == "s" else 1.0)
    known = sequence.GetAttribute(SPACING_KNOWN_ATTRIBUTE) != "false"
    return {
        "frames": _scaled01(np.stack(frames), dtype).astype(np.float32),
        "pixel_spacing_mm": (float(spacing[1]), float(spacing[0])) if known else None,
        "frame_time_ms": frameTimeMs,
        "source": browserNode.GetName(),
    }


def cineFromBrowser(browserNode):
    """The browser's frames as an :class:`assistcore.breastus.cine.Cine` (see :func:`framesFromBrowser`)."""
    from assistcore.breastus.cine import Cine

    arrays = framesFromBrowser(browserNode)
    return Cine(
        frames=arrays["frames"],
        source_path=arrays["source"],
        kind=SEQUENCE_KIND,
        frame_time_ms=arrays["frame_time_ms"],
        pixel_spacing_mm=arrays["pixel_spacing_mm"],
    )


def _checkedCineInput(cineOrPath):
    if cineOrPath is None or (isinstance(cineOrPath, str | os.PathLike) and not str(cineOrPath).strip()):
        raise InputError("Choose a cine: a DICOM file, a video, a folder of frames or a loaded sequence.")
    if isinstance(cineOrPath, str | os.PathLike) and not Path(cineOrPath).exists():
        raise InputError(f"Cine not found: {cineOrPath}.", "Check the path.")
    return cineOrPath


def runCinePipeline(cineOrPath, options: dict, progress=None, cancel_token=None):
    """Read the cine when given a path (DICOM, video, folder of frames), then run the breast_us pipeline on it;
    returns its result (``.cine``, ``.document()``). Runs in the caller's thread."""
    from .pipelines import findPipeline

    cine = _checkedCineInput(cineOrPath)
    if isinstance(cine, str | os.PathLike):
        from assistcore.breastus.cine import read_cine

        cine = read_cine(cine)
    if cancel_token is not None:
        cancel_token.raise_if_cancelled()
    return findPipeline("breast_us")(cine, options, progress=progress, cancel_token=cancel_token)


def startCinePipeline(cineOrPath, options: dict):
    """Check the input, then :func:`runCinePipeline` in a worker thread; poll the returned RunHandle.

    :raises InputError: no cine, or a path that does not exist (before any thread starts).
    :raises RadAssistError: this version of RadAssist has no breast_us pipeline.
    """
    from assistcore.models.runner import CancelToken, start_in_thread
    from assistcore.result_folders import case_id_from

    from .pipelines import findPipeline

    _checkedCineInput(cineOrPath)
    findPipeline("breast_us")
    handle = start_in_thread(runCinePipeline, cineOrPath, dict(options), cancel_token=CancelToken())
    isPath = isinstance(cineOrPath, str | os.PathLike)
    metadata = {} if isPath else getattr(cineOrPath, "metadata", {}) or {}
    handle.case_id = case_id_from(metadata.get("patient_id", ""), str(cineOrPath).rstrip("/\\") if isPath else "cine")
    return handle
