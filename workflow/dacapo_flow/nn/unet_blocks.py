"""Building blocks of the CNNectome U-Net: conv passes, down/upsampling, cropping."""

from __future__ import annotations

import torch
from torch import nn

# The shape rule is torch-free so that the config layer can check shapes; re-exported here.
from ..config.unet_shapes import crop_to_factor_shape

_CONV = {2: nn.Conv2d, 3: nn.Conv3d}
_CONV_T = {2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}
_POOL = {2: nn.MaxPool2d, 3: nn.MaxPool3d}
_BATCH_NORM = {2: nn.BatchNorm2d, 3: nn.BatchNorm3d}


class ConvPass(nn.Module):
    """A stack of convolutions, each followed by optional BatchNorm and ReLU."""

    def __init__(self, in_channels, out_channels, kernel_sizes, padding="valid", batch_norm=False):
        super().__init__()
        layers = []
        for kernel_size in kernel_sizes:
            dims = len(kernel_size)
            pad = tuple(k // 2 for k in kernel_size) if padding == "same" else 0
            layers.append(_CONV[dims](in_channels, out_channels, kernel_size, padding=pad))
            if batch_norm:
                layers.append(_BATCH_NORM[dims](out_channels))
            layers.append(nn.ReLU())
            in_channels = out_channels
        self.conv_pass = nn.Sequential(*layers)

    def forward(self, x):
        return self.conv_pass(x)


class Downsample(nn.Module):
    """Max-pooling that refuses shapes it cannot divide (pooling would silently drop voxels)."""

    def __init__(self, factor, level):
        super().__init__()
        self.factor = tuple(factor)
        self.level = level
        self.down = _POOL[len(factor)](self.factor, stride=self.factor)

    def forward(self, x):
        shape = tuple(x.shape[-len(self.factor) :])
        if any(s % f for s, f in zip(shape, self.factor)):
            raise ValueError(
                f"U-Net level {self.level}: cannot max-pool feature map of spatial shape "
                f"{shape} by factor {self.factor}"
            )
        return self.down(x)


class Upsample(nn.Module):
    """Upsample (nearest + 1x1 conv, or transposed conv), crop for translation equivariance,
    then concatenate with the centre-cropped skip connection."""

    def __init__(
        self,
        factor,
        constant_upsample,
        in_channels,
        out_channels,
        crop_factor=None,
        next_conv_kernel_sizes=None,
    ):
        super().__init__()
        dims = len(factor)
        self.dims = dims
        self.crop_factor = crop_factor
        self.next_conv_kernel_sizes = next_conv_kernel_sizes
        if constant_upsample:
            layers = [
                nn.Upsample(scale_factor=tuple(float(f) for f in factor), mode="nearest"),
                _CONV[dims](in_channels, out_channels, kernel_size=(1,) * dims),
            ]
        else:
            layers = [_CONV_T[dims](in_channels, out_channels, kernel_size=factor, stride=factor)]
        layers.append(nn.ReLU())
        self.up = nn.Sequential(*layers)

    def forward(self, g_out, f_left=None):
        g_up = self.up(g_out)
        if self.crop_factor is not None:
            shape = tuple(g_up.shape[-self.dims :])
            target = crop_to_factor_shape(shape, self.crop_factor, self.next_conv_kernel_sizes)
            g_up = center_crop(g_up, target)
        if f_left is None:
            return g_up
        return torch.cat([center_crop(f_left, tuple(g_up.shape[-self.dims :])), g_up], dim=1)


def center_crop(x, shape):
    """Centre-crop the trailing spatial dimensions of `x` to `shape`."""
    spatial = x.shape[-len(shape) :]
    slices = [slice(None)] * (x.dim() - len(shape))
    slices += [slice((s - t) // 2, (s - t) // 2 + t) for s, t in zip(spatial, shape)]
    return x[tuple(slices)]
