"""CRMAssist adapters between the pipeline's results and MRML nodes (scene passed in, no Qt)."""

from __future__ import annotations

import numpy as np

from AssistCoreLib.crm import addCrmResultToScene


def showResult(scene, result, volumeNode=None) -> dict:
    """ROIs and the slice table next to the T2 volume the user ran on; returns the nodes (see addCrmResultToScene)."""
    caseId = (volumeNode.GetName() if volumeNode is not None else "") or "case"
    return addCrmResultToScene(scene, result, caseId, volumeNode)


def sliceCenterRAS(volumeNode, sliceIndex: int) -> list[float]:
    """RAS position of the centre of k-slice ``sliceIndex`` of ``volumeNode`` (for jumping the views there)."""
    from AssistCoreLib.volumes import RAS_FROM_LPS, volumeNodeToImage

    image = volumeNodeToImage(volumeNode)
    size_i, size_j, _ = image.size_ijk
    centerLPS = image.index_to_lps(np.array([(size_i - 1) / 2, (size_j - 1) / 2, float(sliceIndex)]))[0]
    return [float(v) for v in RAS_FROM_LPS @ centerLPS]
