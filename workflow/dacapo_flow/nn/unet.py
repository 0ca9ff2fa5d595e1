"""CNNectome U-Net (funlib / DaCapo semantics), 2D or 3D.

The module tree mirrors DaCapo's `CNNectomeUNet` (`unet.l_conv`, `unet.l_down`, `unet.r_up`,
`unet.r_conv`, with `Sequential` wrapping when `upsample_factors` are given) so that state-dict
keys line up with DaCapo checkpoints of the same configuration.

Shapes are traced analytically at construction (`output_shape_for`), so a training or evaluation
input shape that max-pooling cannot divide fails with a message naming the level and the shape,
not deep inside a forward pass.
"""

from __future__ import annotations

from collections.abc import Sequence

from funlib.geometry import Coordinate
from torch import nn

from ..config.unet_shapes import (
    ShapeError,
    crop_factors,
    kernel_lists,
    post_kernels,
    trace_output_shape,
)
from .unet_blocks import ConvPass, Downsample, Upsample


class CNNectomeUNetModule(nn.Module):
    """The U-Net proper: `levels = len(downsample_factors) + 1`."""

    def __init__(
        self,
        in_channels,
        num_fmaps,
        num_fmaps_out,
        fmap_inc_factor,
        downsample_factors,
        kernel_size_down,
        kernel_size_up,
        constant_upsample,
        padding,
        batch_norm,
    ):
        super().__init__()
        self.num_levels = len(downsample_factors) + 1
        self.padding = padding
        # The first upsampling keeps its channel count, deeper ones contract (DaCapo default).
        contraction = [False] + [True] * (len(downsample_factors) - 1)

        def fmaps(level):
            return num_fmaps * fmap_inc_factor**level

        # Crop factors: product of all downsample factors below a level (translation equivariance).
        crops = crop_factors(downsample_factors)

        # Without downsampling the only convolution pass is also the output pass.
        single = self.num_levels == 1
        self.l_conv = nn.ModuleList(
            ConvPass(
                in_channels if level == 0 else fmaps(level - 1),
                num_fmaps_out if single else fmaps(level),
                kernel_size_down[level],
                padding=padding,
                batch_norm=batch_norm,
            )
            for level in range(self.num_levels)
        )
        self.l_down = nn.ModuleList(
            Downsample(downsample_factors[level], level) for level in range(self.num_levels - 1)
        )
        # Nested ModuleLists (one decoder "head") keep DaCapo's `r_up.0.<level>` key names.
        up_out = [fmaps(level + (1 - contraction[level])) for level in range(self.num_levels - 1)]
        self.r_up = nn.ModuleList(
            [
                nn.ModuleList(
                    Upsample(
                        downsample_factors[level],
                        constant_upsample,
                        in_channels=fmaps(level + 1),
                        out_channels=up_out[level],
                        # 'same' padding keeps output == input shape, so no equivariance crop.
                        crop_factor=crops[level] if padding == "valid" else None,
                        next_conv_kernel_sizes=kernel_size_up[level],
                    )
                    for level in range(self.num_levels - 1)
                )
            ]
        )
        self.r_conv = nn.ModuleList(
            [
                nn.ModuleList(
                    ConvPass(
                        fmaps(level) + up_out[level],
                        num_fmaps_out if level == 0 else fmaps(level),
                        kernel_size_up[level],
                        padding=padding,
                        batch_norm=batch_norm,
                    )
                    for level in range(self.num_levels - 1)
                )
            ]
        )

    def _forward_level(self, i, f_in):
        f_left = self.l_conv[i](f_in)
        if i == self.num_levels - 1:
            return f_left
        g_out = self._forward_level(i + 1, self.l_down[i](f_left))
        return self.r_conv[0][i](self.r_up[0][i](g_out, f_left))

    def forward(self, x):
        return self._forward_level(0, x)


class CNNectomeUNet(nn.Module):
    """DaCapo's CNNectomeUNet architecture: a U-Net plus optional extra upsampling passes.

    All shapes are spatial, in voxels. `eval_shape_increase` is added to `input_shape` at
    validation / prediction time. `upsample_factors` append (nearest upsample + 1x1 conv + two
    convolutions) passes after the U-Net; `scale(voxel_size)` then gives the output voxel size.
    """

    def __init__(
        self,
        input_shape,
        fmaps_in,
        fmaps_out,
        num_fmaps,
        fmap_inc_factor,
        downsample_factors,
        kernel_size_down=None,
        kernel_size_up=None,
        eval_shape_increase=None,
        upsample_factors=None,
        constant_upsample=True,
        padding="valid",
        batch_norm=False,
        section_axis=None,
    ):
        super().__init__()
        self._input_shape = Coordinate(input_shape)
        dims = len(self._input_shape)
        if dims not in (2, 3):
            raise ValueError(f"CNNectomeUNet: input_shape {tuple(input_shape)} must be 2D or 3D")
        if padding not in ("valid", "same"):
            raise ValueError(f"CNNectomeUNet: padding must be 'valid' or 'same', got {padding!r}")
        self.dims = dims
        if section_axis is not None and (dims != 2 or not 0 <= int(section_axis) <= 2):
            raise ValueError(
                f"CNNectomeUNet: section_axis {section_axis} needs a 2D input_shape and an "
                "axis 0, 1 or 2 of the 3D data"
            )
        self.section_axis = None if section_axis is None else int(section_axis)
        self.fmaps_in = int(fmaps_in)
        self.fmaps_out = int(fmaps_out)
        self.num_fmaps = int(num_fmaps)  # the top level's width: what a pass's memory scales with
        self.padding = padding
        self.downsample_factors = [
            self._as_tuple(f, "downsample_factors") for f in downsample_factors
        ]
        self.upsample_factors = [
            self._as_tuple(f, "upsample_factors") for f in upsample_factors or []
        ]
        levels = len(self.downsample_factors) + 1
        self.kernel_size_down = self._kernel_lists(kernel_size_down, levels, "kernel_size_down")
        self.kernel_size_up = self._kernel_lists(kernel_size_up, levels - 1, "kernel_size_up")
        self._eval_shape_increase = Coordinate(
            eval_shape_increase if eval_shape_increase is not None else (0,) * dims
        )
        if len(self._eval_shape_increase) != dims:
            raise ValueError(
                f"CNNectomeUNet: eval_shape_increase {tuple(self._eval_shape_increase)} "
                f"does not have {dims} dimensions"
            )

        unet = CNNectomeUNetModule(
            in_channels=self.fmaps_in,
            num_fmaps=num_fmaps,
            num_fmaps_out=self.fmaps_out,
            fmap_inc_factor=fmap_inc_factor,
            downsample_factors=self.downsample_factors,
            kernel_size_down=self.kernel_size_down,
            kernel_size_up=self.kernel_size_up,
            constant_upsample=constant_upsample,
            padding=padding,
            batch_norm=batch_norm,
        )
        # v0.3.5 uses the last up-kernel list for the post-upsample convolutions.
        self._post_kernels = post_kernels(self.kernel_size_up, dims)
        if self.upsample_factors:
            layers = [unet]
            for factor in self.upsample_factors:
                layers.append(Upsample(factor, True, self.fmaps_out, self.fmaps_out))
                layers.append(
                    ConvPass(
                        self.fmaps_out, self.fmaps_out, self._post_kernels, padding, batch_norm
                    )
                )
            unet = nn.Sequential(*layers)
        self.unet = unet

        # Fail now, with level and shape, if training or evaluation shapes cannot be pooled.
        self.output_shape_for(self._input_shape)
        self.output_shape_for(self._input_shape + self._eval_shape_increase)

    @classmethod
    def from_config(cls, config) -> CNNectomeUNet:
        """The network a `CNNectomeUNetConfig` describes (every field but `type`)."""
        return cls(**config.model_dump(exclude={"type"}))

    def _as_tuple(self, factor, name):
        factor = tuple(int(f) for f in factor)
        if len(factor) != self.dims:
            raise ValueError(
                f"CNNectomeUNet: {name} entry {factor} does not have {self.dims} dimensions"
            )
        return factor

    def _kernel_lists(self, kernels, count, name):
        try:
            return kernel_lists(kernels, count, self.dims, name)
        except ShapeError as error:
            raise ValueError(f"CNNectomeUNet: {error}") from None

    def _data_shape(self, shape, value: int) -> Coordinate:
        """A 2D shape as the 3D data sees it (`value` on the section axis) when sectioning."""
        if self.section_axis is None:
            return Coordinate(shape)
        shape = list(shape)
        shape.insert(self.section_axis, value)
        return Coordinate(shape)

    @property
    def input_shape(self) -> Coordinate:
        """Input window in data voxels: 3D, one section thick, for a sectioning 2D network."""
        return self._data_shape(self._input_shape, 1)

    @property
    def eval_shape_increase(self) -> Coordinate:
        return self._data_shape(self._eval_shape_increase, 0)

    @property
    def num_in_channels(self) -> int:
        return self.fmaps_in

    @property
    def num_out_channels(self) -> int:
        return self.fmaps_out

    def scale(self, voxel_size) -> Coordinate:
        """Output voxel size for input `voxel_size` (divided by every upsample factor)."""
        voxel_size = Coordinate(voxel_size)
        for factor in self.upsample_factors:
            factor = self._data_shape(factor, 1)
            if any(v % f for v, f in zip(voxel_size, factor)):
                raise ValueError(
                    f"CNNectomeUNet: voxel size {tuple(voxel_size)} is not divisible by "
                    f"upsample factor {factor}"
                )
            voxel_size = voxel_size / Coordinate(factor)
        return voxel_size

    def output_shape_for(self, spatial_shape: Sequence[int]) -> Coordinate:
        """Spatial output shape for a spatial input shape, traced without running the network
        (by the same torch-free function the config checks use).

        Raises ValueError naming the level and shape where pooling, cropping or a convolution fails.
        """
        shape = tuple(int(s) for s in spatial_shape)
        if self.section_axis is not None and len(shape) == 3:
            sections = shape[self.section_axis]
            plane = shape[: self.section_axis] + shape[self.section_axis + 1 :]
            return self._data_shape(self.output_shape_for(plane), sections)
        if len(shape) != self.dims:
            raise ValueError(f"CNNectomeUNet: input shape {shape} is not {self.dims}D")
        try:
            return Coordinate(
                trace_output_shape(
                    shape,
                    self.downsample_factors,
                    self.kernel_size_down,
                    self.kernel_size_up,
                    self.upsample_factors,
                    self.padding,
                )
            )
        except ShapeError as error:
            raise ValueError(f"CNNectomeUNet: {error}") from None

    @property
    def unet_module(self) -> CNNectomeUNetModule:
        return self.unet[0] if isinstance(self.unet, nn.Sequential) else self.unet

    def forward(self, x):
        if self.section_axis is None or x.dim() == 4:
            return self.unet(x)
        # [B, C, *3D] -> every section a 2D sample [B * D, C, *2D] -> back.
        axis = 2 + self.section_axis
        moved = x.movedim(axis, 1)
        batch, sections = moved.shape[:2]
        y = self.unet(moved.reshape(batch * sections, *moved.shape[2:]))
        return y.reshape(batch, sections, *y.shape[1:]).movedim(1, axis)
