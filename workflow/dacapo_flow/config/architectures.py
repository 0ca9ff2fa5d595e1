"""Architecture configs (CNNectome-style UNet, 2D or 3D)."""

import math
from typing import Literal

from pydantic import Field

from .base import Config, added, staged
from .unet_shapes import ShapeError, kernel_lists, trace_output_shape

# Bounds far above any real network: beyond them a job would exhaust memory or never finish.
MAX_INPUT_VOXELS = 2**28
MAX_FEATURE_MAPS = 2**16


class ArchitectureConfig(Config):
    """Base of the architecture configs."""


class CNNectomeUNetConfig(ArchitectureConfig):
    type: Literal["cnnectome_unet"] = "cnnectome_unet"
    input_shape: list[int] = Field(min_length=2, max_length=3, description="voxels")
    fmaps_in: int = Field(1, ge=1, description="input channels (raw: 1)")
    fmaps_out: int = Field(ge=1, description="channels fed to the prediction head")
    num_fmaps: int = Field(ge=1, description="feature maps of the first level")
    fmap_inc_factor: int = Field(ge=1, description="feature-map growth per level")
    downsample_factors: list[list[int]] = Field(
        default_factory=list, description="per level; levels = len + 1"
    )
    kernel_size_down: list[list[list[int]]] | None = Field(
        None, description="per level, per conv (default two 3^d convs)"
    )
    kernel_size_up: list[list[list[int]]] | None = Field(
        None, description="per level, per conv (default two 3^d convs)"
    )
    eval_shape_increase: list[int] | None = staged(
        "validate",
        None,
        description="voxels added to input_shape for evaluation: the default prediction "
        "block, and the smallest validation block (validation grows valid-padded ones to "
        "tile its ROI in fewer passes)",
    )
    upsample_factors: list[list[int]] | None = Field(
        None, description="extra upsampling after the UNet (output voxel size shrinks)"
    )
    constant_upsample: bool = Field(True, description="nearest (true) or transposed conv")
    padding: Literal["valid", "same"] = Field("valid", description="convolution padding")
    batch_norm: bool = Field(False, description="BatchNorm after each convolution")
    section_axis: int | None = added(
        None,
        ge=0,
        le=2,
        description="2D network on 3D data: the axis (0 = z) across which it runs section "
        "by section; shapes and factors are then 2D, over the other two axes",
    )

    # -- derived facts, torch-free ----------------------------------------------------------
    @property
    def dims(self) -> int:
        """Dimensions of the network (2 for a sectioning network)."""
        return len(self.input_shape)

    @property
    def data_dims(self) -> int:
        """Dimensions of the data it runs on: 3 for a 2D network with a section_axis."""
        return 3 if self.section_axis is not None else self.dims

    def data_shape(self, shape, sections: int = 1) -> list[int]:
        """A network shape as the data sees it: `sections` inserted at the section axis."""
        shape = list(shape)
        if self.section_axis is not None:
            shape.insert(self.section_axis, sections)
        return shape

    def eval_input_shape(self) -> list[int]:
        increase = self.eval_shape_increase or [0] * self.dims
        return [s + i for s, i in zip(self.input_shape, increase)]

    def kernels(self) -> tuple[list, list]:
        """(kernel_size_down, kernel_size_up) with defaults filled in; ShapeError if malformed."""
        levels = len(self.downsample_factors) + 1
        down = kernel_lists(self.kernel_size_down, levels, self.dims, "kernel_size_down")
        up = kernel_lists(self.kernel_size_up, levels - 1, self.dims, "kernel_size_up")
        return down, up

    def output_shape(self, spatial_shape) -> tuple[int, ...]:
        """Spatial output shape for an input shape; ShapeError naming the level if it fails."""
        down, up = self.kernels()
        return trace_output_shape(
            spatial_shape,
            self.downsample_factors,
            down,
            up,
            self.upsample_factors or [],
            self.padding,
        )

    def body_signature(self) -> dict:
        """The fields that decide the shapes of the network's weights (not its input shape,
        padding or evaluation shape): two configs with equal signatures load each other's
        weights."""
        down, up = self.kernels()
        return {
            "fmaps_in": self.fmaps_in,
            "fmaps_out": self.fmaps_out,
            "num_fmaps": self.num_fmaps,
            "fmap_inc_factor": self.fmap_inc_factor,
            "downsample_factors": [list(f) for f in self.downsample_factors],
            "kernel_size_down": [[list(k) for k in level] for level in down],
            "kernel_size_up": [[list(k) for k in level] for level in up],
            "upsample_factors": [list(f) for f in self.upsample_factors or []],
            "constant_upsample": self.constant_upsample,
            "batch_norm": self.batch_norm,
        }

    # -- checks -------------------------------------------------------------------------------
    def problems(self) -> list[str]:
        found = super().problems()
        dims = self.dims
        if self.section_axis is not None and dims != 2:
            found.append(
                f"section_axis: {self.section_axis} is for a 2D network on 3D data; "
                f"input_shape {self.input_shape} is {dims}D"
            )
        for name in ("downsample_factors", "upsample_factors"):
            for i, factor in enumerate(getattr(self, name) or []):
                if len(factor) != dims:
                    found.append(f"{name}[{i}]: {factor} has {len(factor)} dims, input has {dims}")
                elif min(factor) < 1:
                    found.append(f"{name}[{i}]: {factor} has a factor below 1")
        for i, factor in enumerate(self.upsample_factors or []):
            if len(factor) == dims and any(f != 1 for f in factor):
                found.append(
                    f"upsample_factors[{i}]: {factor} is not supported: training samples, "
                    "validation and prediction assume the output has the input's voxel size "
                    "(use factors of 1 or leave upsample_factors out)"
                )
        if self.eval_shape_increase and len(self.eval_shape_increase) != dims:
            found.append(f"eval_shape_increase: needs {dims} values")
        factors_fit = all(len(f) == dims and min(f) >= 1 for f in self.downsample_factors)
        if self.eval_shape_increase and len(self.eval_shape_increase) == dims and factors_fit:
            total = [math.prod(f[d] for f in self.downsample_factors) for d in range(dims)]
            for d, (inc, tot) in enumerate(zip(self.eval_shape_increase, total)):
                if inc % tot:
                    found.append(
                        f"eval_shape_increase[{d}]: {inc} is not a multiple of the total "
                        f"downsampling {tot}, so the eval input would not fit the UNet"
                    )
                if inc < 0:
                    found.append(f"eval_shape_increase[{d}]: {inc} is negative")
        deepest = self.num_fmaps * self.fmap_inc_factor ** len(self.downsample_factors)
        if deepest > MAX_FEATURE_MAPS:
            found.append(
                f"num_fmaps: {self.num_fmaps} * fmap_inc_factor {self.fmap_inc_factor} ** "
                f"{len(self.downsample_factors)} levels = {deepest} feature maps at the bottom; "
                f"at most {MAX_FEATURE_MAPS}"
            )
        for name in ("fmaps_in", "fmaps_out"):
            if getattr(self, name) > MAX_FEATURE_MAPS:
                found.append(f"{name}: {getattr(self, name)} is more than {MAX_FEATURE_MAPS}")
        if found:
            return found  # the shape trace needs consistent factors
        return found + self._shape_problems()

    def _shape_problems(self) -> list[str]:
        try:
            self.kernels()
        except ShapeError as error:
            return [str(error)]  # names its key
        found = []
        shapes = [("input_shape", self.input_shape)]
        if self.eval_shape_increase:
            shapes.append(("eval_shape_increase", self.eval_input_shape()))
        for key, shape in shapes:
            what = "input shape" if key == "input_shape" else "eval input shape (input_shape + it)"
            voxels = math.prod(shape)
            if voxels > MAX_INPUT_VOXELS:
                found.append(
                    f"{key}: the {what} {shape} has {voxels} voxels; at most {MAX_INPUT_VOXELS}"
                )
                continue
            try:
                self.output_shape(shape)
            except ShapeError as error:
                found.append(f"{key}: the {what} does not fit the network: {error}")
        return found


# One kind so far, so `type` may be left out; make this a discriminated union when a second
# kind arrives.
AnyArchitectureConfig = CNNectomeUNetConfig
