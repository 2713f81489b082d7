"""Checks shared by the modules' Slicer self-tests (they run inside the Slicer app, on slicer.mrmlScene)."""

from __future__ import annotations


def checkRunWithoutInputIsRefused(testCase, startWithoutInput) -> None:
    """Starting a run with no input volume raises a clear InputError, before any thread starts."""
    from assistcore.errors import InputError

    with testCase.assertRaises(InputError):
        startWithoutInput()


def checkVolumeConvertsWithItsGeometry(testCase, scene) -> None:
    """An oblique image goes into a volume node and comes back on exactly the same grid."""
    import numpy as np

    from assistcore.image import Image

    from .volumes import imageToVolumeNode, volumeNodeToImage

    angle = np.deg2rad(15.0)
    direction = np.array([[1, 0, 0], [0, np.cos(angle), -np.sin(angle)], [0, np.sin(angle), np.cos(angle)]])
    image = Image(np.arange(24, dtype=np.int16).reshape(2, 3, 4), (0.5, 0.6, 3.0), (1.0, 2.0, 3.0), direction)
    back = volumeNodeToImage(imageToVolumeNode(scene, image, "selftest"))
    testCase.assertTrue(back.same_grid(image))
    testCase.assertTrue(np.array_equal(back.array_kji, image.array_kji))
