"""Architecture configs (CNNectome-style UNet, 2D or 3D)."""

import math
from typing import Literal

from pydantic import Field

from .base import Config, staged


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
        "validate", None, description="voxels added to input_shape for validation blocks"
    )
    upsample_factors: list[list[int]] | None = Field(
        None, description="extra upsampling after the UNet (output voxel size shrinks)"
    )
    constant_upsample: bool = Field(True, description="nearest (true) or transposed conv")
    padding: Literal["valid", "same"] = Field("valid", description="convolution padding")
    batch_norm: bool = Field(False, description="BatchNorm after each convolution")

    def problems(self) -> list[str]:
        found = super().problems()
        dims = len(self.input_shape)
        for name in ("downsample_factors", "upsample_factors"):
            for i, factor in enumerate(getattr(self, name) or []):
                if len(factor) != dims:
                    found.append(f"{name}[{i}]: {factor} has {len(factor)} dims, input has {dims}")
        if self.eval_shape_increase and len(self.eval_shape_increase) != dims:
            found.append(f"eval_shape_increase: needs {dims} values")
        factors_fit = all(len(f) == dims for f in self.downsample_factors)
        if self.eval_shape_increase and len(self.eval_shape_increase) == dims and factors_fit:
            total = [math.prod(f[d] for f in self.downsample_factors) for d in range(dims)]
            for d, (inc, tot) in enumerate(zip(self.eval_shape_increase, total)):
                if inc % tot:
                    found.append(
                        f"eval_shape_increase[{d}]: {inc} is not a multiple of the total "
                        f"downsampling {tot}, so the eval input would not fit the UNet"
                    )
        return found


# One kind so far, so `type` may be left out; make this a discriminated union when a second
# kind arrives.
AnyArchitectureConfig = CNNectomeUNetConfig
