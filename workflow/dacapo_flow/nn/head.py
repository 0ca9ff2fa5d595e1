"""The prediction head: the convolution a task puts on its architecture's output.

Self-contained (torch only, no imports from dacapo_flow): the packaged network source
(`export/network_source.py`) copies this file verbatim, so a model package builds the very
head that `Task.create_model` builds.
"""

from __future__ import annotations

from torch import nn

_HEAD_CONV = {2: nn.Conv2d, 3: nn.Conv3d}


def prediction_head(architecture: nn.Module, channels: int, kernel_size: int) -> nn.Module:
    """A convolution from `architecture`'s output channels to `channels`, `kernel_size` wide.

    A 'same'-padded architecture keeps input == output shape; so does its head for k > 1. A 2D
    network run section by section (`section_axis`) gets a head that stays in-plane: kernel 1
    and no padding across sections."""
    dims = len(architecture.input_shape)
    k = int(kernel_size)
    pad = k // 2 if getattr(architecture, "padding", "valid") == "same" else 0
    section_axis = getattr(architecture, "section_axis", None)
    kernel = tuple(1 if axis == section_axis else k for axis in range(dims))
    padding = tuple(0 if axis == section_axis else pad for axis in range(dims))
    return _HEAD_CONV[dims](architecture.num_out_channels, int(channels), kernel, padding=padding)
