"""SpineAssist adapters between the pipeline's results and MRML nodes (scene passed in, no Qt)."""

from assistcore.errors import RadAssistError


def showResult(scene, result) -> None:
    """Add the pipeline's result to the scene. Arrives with the spine pipeline."""
    raise RadAssistError("This version of RadAssist has no spine results to show yet.")
