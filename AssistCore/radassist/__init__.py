"""radassist: the application layer (command line, demo) over the pure `assistcore` and the MRML adapters.

Layers: `assistcore` computes (no Slicer, no torch at import); `AssistCoreLib` converts to and from MRML;
`radassist` orchestrates them for people: the `radassist` command and the demo.
"""

from assistcore import __version__  # noqa: F401
