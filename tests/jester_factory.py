"""The Jester 3D ShuffleNet from $STROKELENS_HOME/models/jester-shufflenet, loaded as a user's own
video model (``--model jester_factory:factory --input video``, or `load` for ``strokelens.wrap``).
Neither the code nor the weights are copied here: both are read from the shared folder."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import torch

from strokelens.io.video import VideoRecipe

#: ``../shared/README.md``'s recipe: the webcam picture at ``crop=634:475:88:60``, 12 fps, shorter
#: side to 112 and a 112 centre crop, 16 frames every 2nd, 0-255 minus the mean; a window a second.
RECIPE = VideoRecipe(
    crop=(634, 475, 88, 60),
    fps=12.0,
    size=112,
    frames=16,
    step=2,
    stride=12,
    scale=255.0,
    mean=(114.7748, 107.7354, 99.4750),
)


def folder() -> Path:
    return Path(os.environ["STROKELENS_HOME"]) / "models" / "jester-shufflenet"


def class_names() -> list[str]:
    """``classInd.txt``: ``N name`` lines, N from 1."""
    lines = (folder() / "classInd.txt").read_text().split("\n")
    pairs = sorted((int(n), name) for n, name in (line.split() for line in lines if line.strip()))
    return [name for _, name in pairs]


def network() -> torch.nn.Module:
    """``ShuffleNet(groups=3, width_mult=0.5, num_classes=27)`` with the trained weights."""
    spec = importlib.util.spec_from_file_location("jester_shufflenet", folder() / "shufflenet.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    net = module.ShuffleNet(groups=3, width_mult=0.5, num_classes=27)
    checkpoint = torch.load(
        folder() / "jester_shufflenet_0.5x_G3_RGB_16_best.pth", map_location="cpu", weights_only=True
    )
    state = {k.removeprefix("module."): v for k, v in checkpoint["state_dict"].items()}
    net.load_state_dict(state)
    return net.eval()


def factory() -> torch.nn.Module:
    """For ``--model jester_factory:factory --input video``: the network naming its classes and
    carrying its recipe (`strokelens.wrap` picks both up)."""
    net = network()
    net.class_names = class_names()
    net.video_recipe = RECIPE
    return net
