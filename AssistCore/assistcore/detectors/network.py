"""Faster R-CNN box detectors shared by the assistants (CRM slices, ultrasound frames): builders, the card's
``network`` section and inference on 0..1 grey pictures.

Pictures are (y, x) float32 in 0..1, the grey value copied into 3 channels; the network then normalises with its
``image_mean``/``image_std`` (0.5/0.25). Boxes are (x0, y0, x1, y1) pixel edges of the picture given.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np

#: backbone name -> the card's network ``_target_``
BACKBONES = {
    "mobilenet_v3_lite": "assistcore.detectors.network.fasterrcnn_mobilenet_v3_lite",
    "mobilenet_v3_fpn": "torchvision.models.detection.fasterrcnn_mobilenet_v3_large_fpn",
    "resnet50_fpn": "torchvision.models.detection.fasterrcnn_resnet50_fpn",
    "vgg16": "assistcore.detectors.network.fasterrcnn_vgg16",
}
DEFAULT_BACKBONE = "mobilenet_v3_lite"
IMAGE_MEAN, IMAGE_STD = [0.5, 0.5, 0.5], [0.25, 0.25, 0.25]


def network_config(backbone: str = DEFAULT_BACKBONE, image_size: int = 384, num_classes: int = 2) -> dict:
    """The card's ``network`` section: a torchvision Faster R-CNN with random initial weights (no download).

    ``num_classes`` counts the background. Fewer region proposals at test time than torchvision's defaults
    (300 before, 100 after NMS): the box head's cost grows with them, and a picture holds a few findings at most.
    """
    if backbone not in BACKBONES:
        from ..errors import InputError

        raise InputError(f"Unknown backbone {backbone!r}.", f"Use one of {', '.join(BACKBONES)}.")
    config: dict[str, Any] = {
        "_target_": BACKBONES[backbone],
        "num_classes": num_classes,
        "min_size": image_size,
        "max_size": image_size,
        "image_mean": IMAGE_MEAN,
        "image_std": IMAGE_STD,
        "box_score_thresh": 0.01,
        "box_detections_per_img": 20,
        "rpn_pre_nms_top_n_test": 300,
        "rpn_post_nms_top_n_test": 100,
    }
    if backbone.startswith("torchvision") or BACKBONES[backbone].startswith("torchvision"):
        config.update({"weights": None, "weights_backbone": None})
    return config


def fasterrcnn_mobilenet_v3_lite(
    num_classes: int = 2,
    fpn_channels: int = 128,
    representation_size: int = 256,
    norm_groups: int = 8,
    **kwargs: Any,
):
    """Faster R-CNN on MobileNetV3-Large with a slim FPN and box head: the CPU default (~5.6 M parameters).

    torchvision's ``fasterrcnn_mobilenet_v3_large_fpn`` uses a 256-channel FPN and a 1024-wide box head
    (19 M parameters, 76 MB); CRM boxes are one class on grey pictures, and this slimmer head keeps the
    weights under 25 MB and the CPU time per slice low. Feature levels at strides 16 and 32 plus a pooled
    level, anchors of 16-256 pixels (a few mm to a few cm at 0.5 mm pixels), 3 aspect ratios.
    Random initial weights (nothing is downloaded), so the backbone uses group normalisation
    (``norm_groups`` groups) instead of batch normalisation: trained from scratch on small batches of crops,
    batch statistics differ from whole slices at inference and batch norm's running averages then silence
    the detector; group norm behaves the same in training and inference.
    """
    import functools

    import torch
    import torchvision
    from torchvision.models.detection import FasterRCNN
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.backbone_utils import BackboneWithFPN
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
    from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

    norm = functools.partial(torch.nn.GroupNorm, norm_groups)
    features = torchvision.models.mobilenet_v3_large(weights=None, norm_layer=norm).features
    # the blocks where the spatial size halves (as torchvision's _mobilenet_extractor picks them); torchvision
    # returns the last two, both at stride 32 (a 12 x 12 grid on a 384 slice); here stride 16 and 32
    stages = [0] + [i for i, block in enumerate(features) if getattr(block, "_is_cn", False)] + [len(features) - 1]
    returned = [len(stages) - 3, len(stages) - 1]
    backbone = BackboneWithFPN(
        features,
        {str(stages[k]): str(v) for v, k in enumerate(returned)},
        [features[stages[k]].out_channels for k in returned],
        fpn_channels,
        extra_blocks=LastLevelMaxPool(),
    )
    anchors = AnchorGenerator(((16, 32, 64, 128, 256),) * 3, ((0.5, 1.0, 2.0),) * 3)
    return FasterRCNN(
        backbone,
        None,
        rpn_anchor_generator=anchors,
        box_head=TwoMLPHead(fpn_channels * 7 * 7, representation_size),
        box_predictor=FastRCNNPredictor(representation_size, num_classes),
        **kwargs,
    )


def fasterrcnn_vgg16(num_classes: int = 2, **kwargs: Any):
    """Faster R-CNN on a VGG16 backbone (conv5_3, stride 16, 512 channels) as in the source study.

    torchvision has no builder for it; this one follows the original Faster R-CNN: one feature map, anchors
    of 3 sizes x 3 aspect ratios, RoI align 7x7. Random initial weights (nothing is downloaded).
    """
    import torchvision
    from torchvision.models.detection import FasterRCNN
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.ops import MultiScaleRoIAlign

    backbone = torchvision.models.vgg16(weights=None).features[:-1]  # drop the last max-pool: stride 16
    backbone.out_channels = 512
    anchors = AnchorGenerator(sizes=((32, 64, 128),), aspect_ratios=((0.5, 1.0, 2.0),))
    pooler = MultiScaleRoIAlign(featmap_names=["0"], output_size=7, sampling_ratio=2)
    return FasterRCNN(backbone, num_classes, rpn_anchor_generator=anchors, box_roi_pool=pooler, **kwargs)


_size_lock = threading.Lock()


def detect_pictures(
    network,
    pictures: list[np.ndarray],
    device: str = "cpu",
    batch_size: int = 4,
    cancel_check: Callable[[], None] | None = None,
    progress: Callable[[float, str], None] | None = None,
    shorter_side: int | None = None,
) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """Boxes (N, 4) x0, y0, x1, y1 in the pictures' pixels, scores (N,) and seconds per picture, for 0..1
    pictures (y, x) all of one size.

    They run ``batch_size`` at a time, at their native size (``shorter_side`` None: MRI slices keep their
    pixel size) or resized so the shorter side is ``shorter_side`` pixels (the network's resize is set for
    the call; torchvision maps the boxes back to the pictures' pixels). An ONNX export
    (:class:`~assistcore.models.onnx_runtime.OnnxNetwork`) runs one picture at a time; its resize was fixed at
    export and must match ``shorter_side``.
    """
    import time

    from ..models.onnx_runtime import OnnxNetwork

    results: list[tuple[np.ndarray, np.ndarray, float]] = []
    if not pictures:
        return results
    if isinstance(network, OnnxNetwork):
        return _detect_pictures_onnx(network, pictures, cancel_check, progress, shorter_side)
    import torch

    height, width = pictures[0].shape
    with _size_lock:  # the transform's size is set per call; one call at a time per process
        transform = network.transform
        scale = 1.0 if shorter_side is None else shorter_side / min(height, width)
        transform.min_size = (round(min(height, width) * scale),)
        transform.max_size = round(max(height, width) * scale)
        with torch.inference_mode():
            for start in range(0, len(pictures), batch_size):
                if cancel_check:
                    cancel_check()
                batch = pictures[start : start + batch_size]
                began = time.perf_counter()
                outputs = network([torch.from_numpy(p).expand(3, -1, -1).to(device) for p in batch])
                seconds = (time.perf_counter() - began) / len(batch)
                for output in outputs:
                    boxes = output["boxes"].float().cpu().numpy().reshape(-1, 4)
                    results.append((boxes, output["scores"].float().cpu().numpy(), seconds))
                if progress:
                    done = start + len(batch)
                    progress(min(1.0, done / len(pictures)), f"picture {done}/{len(pictures)}")
    return results


def _detect_pictures_onnx(network, pictures, cancel_check, progress, shorter_side) -> list:
    """:func:`detect_pictures` with ONNX Runtime: one (3, H, W) picture per call (batching does not help on
    the CPU), boxes already in the picture's pixels."""
    import time

    from ..errors import ModelError

    exported_for = network.entry.get("shorter_side")
    if exported_for != shorter_side:
        raise ModelError(
            f"The ONNX program {network.path} was exported for pictures with shorter side {exported_for} px, "
            f"but this run needs {shorter_side}.",
            "Export the model again with `radassist models export MODEL_ID` after changing its card.",
        )
    results = []
    for index, picture in enumerate(pictures):
        if cancel_check:
            cancel_check()
        began = time.perf_counter()
        boxes, scores = network(np.broadcast_to(picture.astype(np.float32, copy=False), (3, *picture.shape)))
        results.append(
            (np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(scores, np.float32), time.perf_counter() - began)
        )
        if progress:
            progress((index + 1) / len(pictures), f"picture {index + 1}/{len(pictures)}")
    return results
