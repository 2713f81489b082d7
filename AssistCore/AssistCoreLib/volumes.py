"""assistcore Image <-> vtkMRMLScalarVolumeNode. The one place where LPS becomes RAS and back."""

from __future__ import annotations

import numpy as np

from assistcore.image import Image, ImageMetadata

#: LPS <-> RAS: flip the first two axes (its own inverse).
RAS_FROM_LPS = np.diag([-1.0, -1.0, 1.0])
METADATA_ATTRIBUTE_PREFIX = "RadAssist."


def ijkToRASMatrix(image: Image):
    """vtkMatrix4x4 mapping (i, j, k, 1) to RAS mm for ``image``."""
    import vtk

    matrixLPS = image.index_to_lps_matrix()
    matrixRAS = np.eye(4)
    matrixRAS[:3, :] = RAS_FROM_LPS @ matrixLPS[:3, :]
    matrix = vtk.vtkMatrix4x4()
    for row in range(4):
        for column in range(4):
            matrix.SetElement(row, column, float(matrixRAS[row, column]))
    return matrix


def vtkMatrixToArray(matrix) -> np.ndarray:
    """A vtkMatrix4x4 as a 4x4 float64 numpy array."""
    return np.array([[matrix.GetElement(row, column) for column in range(4)] for row in range(4)])


def nodeToWorldMatrix(node) -> np.ndarray:
    """4x4 from the node's own RAS to world RAS: identity, or the product of its linear parent transforms.

    A volume or markup put under a transform in Slicer (registration, manual alignment) is displayed where
    the transform puts it; reading its raw geometry without the transform would silently misplace it.
    """
    transformNode = node.GetParentTransformNode()
    if transformNode is None:
        return np.eye(4)
    if not transformNode.IsTransformToWorldLinear():
        from assistcore.errors import GeometryError

        raise GeometryError(
            f"Node {node.GetName()} is under the non-linear transform {transformNode.GetName()}.",
            "Harden the transform (Data module: right-click the node, Harden transform) and try again.",
        )
    import vtk

    matrix = vtk.vtkMatrix4x4()
    transformNode.GetMatrixTransformToWorld(matrix)
    return vtkMatrixToArray(matrix)


def _imageData(array_kji: np.ndarray):
    import vtk
    from vtkmodules.util import numpy_support

    array = np.ascontiguousarray(array_kji)
    if array.dtype == np.bool_:
        array = array.astype(np.uint8)
    imageData = vtk.vtkImageData()
    imageData.SetDimensions(array.shape[2], array.shape[1], array.shape[0])
    scalars = numpy_support.numpy_to_vtk(array.ravel(order="C"), deep=True)
    imageData.GetPointData().SetScalars(scalars)
    return imageData


def _setVolume(node, image: Image, array_kji: np.ndarray) -> None:
    node.SetAndObserveImageData(_imageData(array_kji))
    node.SetIJKToRASMatrix(ijkToRASMatrix(image))
    for key, value in vars(image.metadata).items():
        if isinstance(value, str) and value:
            node.SetAttribute(METADATA_ATTRIBUTE_PREFIX + key, value)


def imageToVolumeNode(scene, image: Image, name: str, node=None):
    """Add (or fill ``node``) a scalar volume node with the image's voxels, dtype and exact geometry."""
    node = node or scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", scene.GenerateUniqueName(name))
    _setVolume(node, image, image.array_kji)
    node.CreateDefaultDisplayNodes()
    return node


def labelArrayToLabelmapNode(scene, label_kji: np.ndarray, reference: Image, name: str):
    """A labelmap volume node on ``reference``'s grid holding ``label_kji`` (values kept as they are)."""
    node = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", scene.GenerateUniqueName(name))
    _setVolume(node, reference.with_array(label_kji), label_kji)
    return node


def volumeNodeToImage(node) -> Image:
    """The node's voxels (k, j, i) and geometry in LPS, metadata from its RadAssist attributes.

    Geometry is where Slicer shows the volume: linear parent transforms are included (non-linear ones raise
    :class:`GeometryError`); voxels are copied, dtype kept.
    """
    import vtk
    from vtkmodules.util import numpy_support

    imageData = node.GetImageData()
    if imageData is None:
        from assistcore.errors import InputError

        raise InputError(f"Volume node {node.GetName()} holds no image data.", "Load a volume first.")
    columns, rows, slices = imageData.GetDimensions()
    components = imageData.GetNumberOfScalarComponents()
    array = numpy_support.vtk_to_numpy(imageData.GetPointData().GetScalars())
    array = array.reshape((slices, rows, columns) if components == 1 else (slices, rows, columns, components)).copy()
    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    matrixRAS = nodeToWorldMatrix(node) @ vtkMatrixToArray(matrix)
    matrixLPS = RAS_FROM_LPS @ matrixRAS[:3, :]
    spacing = np.linalg.norm(matrixLPS[:, :3], axis=0)
    direction = matrixLPS[:, :3] / spacing
    fields = {
        key: node.GetAttribute(METADATA_ATTRIBUTE_PREFIX + key) or ""
        for key in ImageMetadata.__dataclass_fields__
        if key != "extra"
    }
    identity = dicomIdentityOf(node)
    extra = {"sop_instance_uids_sha256": identity.pop("sop_instance_uids_sha256")} if identity else {}
    fields.update({key: value for key, value in identity.items() if not fields[key]})
    return Image(array, tuple(spacing), tuple(matrixLPS[:, 3]), direction, ImageMetadata(**fields, extra=extra))


#: DICOM tags as ctkDICOMDatabase.fileValue takes them
SERIES_INSTANCE_UID_TAG, PATIENT_ID_TAG = "0020,000E", "0010,0020"


def dicomIdentityOf(node, database=None) -> dict[str, str]:
    """The source series of a volume that Slicer's DICOM module loaded (its ``DICOM.instanceUIDs`` attribute), so
    that the report and the DICOM export of a run made in a module can find and check it as for the command line.

    :param database: a ctkDICOMDatabase (default ``slicer.dicomDatabase``; none in slicer-core).
    :returns: ``series_instance_uid``, ``patient_id``, ``source_path`` (the folder holding the files) and
        ``sop_instance_uids_sha256`` (:func:`assistcore.dicom_series.sop_uids_digest`); {} when the node did not
        come from the DICOM database or its files are no longer there.
    """
    import os

    import slicer

    from assistcore.dicom_series import sop_uids_digest

    uids = (node.GetAttribute("DICOM.instanceUIDs") or "").split()
    database = database if database is not None else getattr(slicer, "dicomDatabase", None)
    if not uids or database is None:
        return {}
    files = [database.fileForInstance(uid) for uid in uids]
    if not all(files) or not all(os.path.isfile(path) for path in files):
        return {}
    return {
        "series_instance_uid": database.fileValue(files[0], SERIES_INSTANCE_UID_TAG),
        "patient_id": database.fileValue(files[0], PATIENT_ID_TAG),
        "source_path": os.path.commonpath([os.path.dirname(path) for path in files]),
        "sop_instance_uids_sha256": sop_uids_digest(uids),
    }
