"""Finding and starting an assistant's core pipeline from Slicer (no Qt; testable headless).

Each assistant's issue adds ``assistcore.pipelines.<name>`` with ``run(inputs, options, progress,
cancel_token)``; until then the module says clearly that the pipeline is not part of this version.
"""

from __future__ import annotations

import importlib
from typing import Any

from assistcore.errors import InputError, RadAssistError
from assistcore.models.runner import CancelToken, RunHandle, start_in_thread

from .volumes import volumeNodeToImage


def findPipeline(name: str):
    """The pipeline module ``assistcore.pipelines.<name>``, or a clear error if this version lacks it."""
    try:
        module = importlib.import_module(f"assistcore.pipelines.{name}")
    except ModuleNotFoundError as error:
        if error.name and error.name.startswith("assistcore.pipelines"):
            raise RadAssistError(
                f"The {name} pipeline is not installed in this version of RadAssist.",
                "Update the RadAssist extension; nothing was computed.",
            ) from None
        raise
    return module.run


def _selected(value) -> Any:
    """A role's node, or its list of nodes without the unselected ones; None when nothing is selected."""
    if isinstance(value, list | tuple):
        return [node for node in value if node is not None] or None
    return value


def imagesFromNodes(volumeNodes: dict[str, Any], requiredRoles: list[str]) -> dict[str, Any]:
    """Images for the selected volume nodes; a role given a list of nodes (several axial series) gets a list of
    images. A missing required role is named in the error."""
    selected = {role: _selected(value) for role, value in volumeNodes.items()}
    missing = [role for role in requiredRoles if selected.get(role) is None]
    if missing:
        raise InputError(f"Select the input volume(s): {', '.join(missing)}.")
    return {
        role: [volumeNodeToImage(node) for node in value] if isinstance(value, list) else volumeNodeToImage(value)
        for role, value in selected.items()
        if value is not None
    }


def startPipeline(
    name: str, volumeNodes: dict[str, Any], requiredRoles: list[str], options: dict[str, Any]
) -> RunHandle:
    """Validate inputs, then run the pipeline in a worker thread; poll the returned handle from a timer."""
    from assistcore.result_folders import case_id_from

    images = imagesFromNodes(volumeNodes, requiredRoles)
    run = findPipeline(name)
    handle = start_in_thread(run, images, options, cancel_token=CancelToken())
    first = volumeNodes[requiredRoles[0]] if requiredRoles else None
    if isinstance(first, list | tuple):
        first = next((node for node in first if node is not None), None)
    handle.inputs = images
    # the series' PatientID, else the node's name as shown in Slicer (a name, not a path: no suffix is cut)
    patientId = images[requiredRoles[0]].metadata.patient_id if requiredRoles else ""
    handle.case_id = case_id_from(patientId or (first.GetName() if first is not None else ""), "")
    return handle
