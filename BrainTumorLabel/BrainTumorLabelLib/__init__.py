"""BrainTumorLabel adapters between the pipeline's results and MRML nodes (scene passed in, no Qt)."""

from AssistCoreLib.brainTumor import addBrainResultToScene


def showResult(scene, result):
    """Add the tumour segmentation next to the reference volume the user selected."""
    import slicer

    from AssistCoreLib.headless import HeadlessLogics

    logics = HeadlessLogics(None, None, slicer.modules.segmentations.logic(), None, None, None)
    referenceNode = _findReferenceNode(scene, result)
    segmentation, _ = addBrainResultToScene(
        scene, logics, result, {}, result.provenance.get("case_id", "case"), referenceNode
    )
    return segmentation


def _findReferenceNode(scene, result):
    """The scalar volume whose grid the labels lie on (the FLAIR or T1c the user selected)."""
    from AssistCoreLib.volumes import volumeNodeToImage

    nodes = scene.GetNodesByClass("vtkMRMLScalarVolumeNode")
    for index in range(nodes.GetNumberOfItems()):
        node = nodes.GetItemAsObject(index)
        if node.GetImageData() is not None and volumeNodeToImage(node).same_grid(result.reference):
            return node
    return None
