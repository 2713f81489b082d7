"""BrainTumorLabel adapters between the pipeline's results and MRML nodes (scene passed in, no Qt)."""

from AssistCoreLib.brainTumor import addBrainResultToScene


def showResult(scene, result, segmentationsLogic=None):
    """Add the tumour segmentation next to the reference volume the user selected; return it.

    :param segmentationsLogic: ``slicer.modules.segmentations.logic()`` by default; a headless scene's in tests.
    """
    from AssistCoreLib.headless import HeadlessLogics

    if segmentationsLogic is None:
        import slicer

        segmentationsLogic = slicer.modules.segmentations.logic()
    logics = HeadlessLogics(None, None, segmentationsLogic, None, None, None)
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
