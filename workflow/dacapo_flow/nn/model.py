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

        Runs the chain on the meta device with meta copies of every parameter and buffer, so it
        costs no memory or compute, and neither the BatchNorm running statistics nor the
        train/eval mode of any module change (DaCapo's dummy forward updated them).
        """
        spatial_shape = tuple(int(s) for s in spatial_shape)
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
