"""SceneWriter: the scene bundle written by a helper process (fresh command-line runs) or in process."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.mrml


def add_volume(scene, logics, image) -> None:
    """A builder: one volume node (imported by the helper process by its module path)."""
    from AssistCoreLib.volumes import imageToVolumeNode

    imageToVolumeNode(scene, image, "written_by_builder")


def fail(scene, logics) -> None:
    raise ValueError("the builder failed on purpose")


@pytest.mark.parametrize("use_helper", [True, False])
def test_the_scene_is_written_with_the_builders_nodes_in_a_helper_or_here(an_oblique_image, tmp_path, use_helper):
    pytest.importorskip("slicer")
    from assistcore.resample import resample_to_reference
    from AssistCoreLib.scenes import loadSceneBundle
    from AssistCoreLib.volumes import volumeNodeToImage
    from radassist.scene_writer import SceneWriter

    with SceneWriter(use_helper=use_helper) as writer:
        note = writer.write("test_scene_writer:add_volume", tmp_path / "scene.mrb", an_oblique_image)
    assert note == ""
    scene, _logics = loadSceneBundle(tmp_path / "scene.mrb")
    node = scene.GetFirstNodeByName("written_by_builder")
    image = volumeNodeToImage(node)
    # Slicer stores a left-handed grid with an axis reversed: compare the voxels at the same physical places
    on_original_grid = resample_to_reference(image, an_oblique_image, "nearest")
    assert np.allclose(on_original_grid.array_kji, an_oblique_image.array_kji)


def test_a_failing_builder_in_the_helper_is_an_error_naming_the_file(tmp_path):
    pytest.importorskip("slicer")
    from assistcore.errors import RadAssistError
    from radassist.scene_writer import SceneWriter

    with pytest.raises(RadAssistError, match="scene.mrb.*failed on purpose"):
        SceneWriter(use_helper=True).write("test_scene_writer:fail", tmp_path / "scene.mrb")
    assert not (tmp_path / "scene.mrb").exists()
