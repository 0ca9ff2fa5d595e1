"""`Model`: architecture + prediction head + eval activation (DaCapo `experiments/model.py`).

The head is registered twice, as `prediction_head` and as `chain[1]`, exactly like DaCapo, so a
state dict holds both `prediction_head.*` and `chain.1.*` (and `architecture.*` / `chain.0.*`)
keys for the same tensors; head matching when finetuning relies on those names.
"""

from __future__ import annotations

import torch
from funlib.geometry import Coordinate
from torch import nn
from torch.func import functional_call
from torch.nn.modules.conv import _ConvNd


class Model(nn.Module):
    def __init__(
        self,
        architecture: nn.Module,
        prediction_head: nn.Module,
        eval_activation: nn.Module | None = None,
    ):
        super().__init__()
        self.architecture = architecture
        self.prediction_head = prediction_head
        self.chain = nn.Sequential(architecture, prediction_head)
        self.eval_activation = eval_activation

        self.num_in_channels = architecture.num_in_channels
        self.input_shape = Coordinate(architecture.input_shape)
        self.eval_input_shape = self.input_shape + Coordinate(architecture.eval_shape_increase)

        # Callers seed torch before building, so this init is reproducible.
        for module in self.modules():
            if isinstance(module, _ConvNd):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")

        self.num_out_channels, self.output_shape = self.compute_output_shape(self.input_shape)

    def forward(self, x):
        y = self.chain(x)
        if not self.training and self.eval_activation is not None:
            y = self.eval_activation(y)
        return y

    def compute_output_shape(self, spatial_shape) -> tuple[int, Coordinate]:
        """(channels, spatial output shape) for a spatial input shape.

        Neither runs the network nor touches the BatchNorm running statistics or the
        train/eval mode of any module (DaCapo's dummy forward updated them). An architecture
        that traces its own shapes (`output_shape_for`) under a convolution head is computed
        directly: the meta-device trace imports torch's reference ops on first use, ~1.4 s of
        every job's start-up.
        """
        spatial_shape = tuple(int(s) for s in spatial_shape)
        shape_for = getattr(self.architecture, "output_shape_for", None)
        head = self.prediction_head
        if shape_for is not None and isinstance(head, _ConvNd) and set(head.stride) == {1}:
            shape = shape_for(spatial_shape)
            sizes = zip(shape, head.kernel_size, head.padding, head.dilation)
            return head.out_channels, Coordinate(s + 2 * p - d * (k - 1) for s, k, p, d in sizes)
        return self.traced_output_shape(spatial_shape)

    def traced_output_shape(self, spatial_shape) -> tuple[int, Coordinate]:
        """`compute_output_shape` by running the chain on the meta device with meta copies of
        every parameter and buffer: no memory, no compute, any architecture."""
        state = {
            name: torch.empty_like(tensor, device="meta")
            for name, tensor in [*self.chain.named_parameters(), *self.chain.named_buffers()]
        }
        x = torch.empty((1, self.num_in_channels, *spatial_shape), device="meta")
        with torch.no_grad():
            out = functional_call(self.chain, state, (x,))
        return int(out.shape[1]), Coordinate(out.shape[2:])

    def scale(self, voxel_size) -> Coordinate:
        """Voxel size of the output for an input `voxel_size`."""
        return self.architecture.scale(voxel_size)
