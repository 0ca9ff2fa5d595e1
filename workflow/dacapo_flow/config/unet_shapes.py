"""Spatial shapes through a CNNectome U-Net, traced from its configuration alone.

No torch: the config layer checks input and evaluation shapes with these functions when the
workflow is parsed, and the torch module (`nn/unet.py`) uses the same ones, so a shape that
verifies is a shape the network runs on.
"""

from __future__ import annotations

from collections.abc import Sequence

Shape = tuple[int, ...]


class ShapeError(ValueError):
    """A spatial shape the network cannot process; the message names the level."""


def kernel_lists(kernels, count: int, dims: int, name: str) -> list[list[Shape]]:
    """`count` lists of kernel shapes (default: two 3^dims convolutions per level); an int
    kernel means that size along every axis."""
    if kernels is None:
        return [[(3,) * dims] * 2 for _ in range(count)]
    if len(kernels) != count:
        raise ShapeError(f"{name}: needs {count} lists of kernels, got {len(kernels)}")
    result = []
    for level in kernels:
        shapes = []
        for k in level:
            shape = (int(k),) * dims if isinstance(k, int) else tuple(int(s) for s in k)
            if len(shape) != dims:
                raise ShapeError(f"{name}: entry {list(shape)} does not have {dims} dimensions")
            if min(shape) < 1:
                raise ShapeError(f"{name}: entry {list(shape)} has a size below 1")
            shapes.append(shape)
        result.append(shapes)
    return result


def post_kernels(kernel_size_up: list[list[Shape]], dims: int) -> list[Shape]:
    """Kernels of the convolutions after each extra upsampling (DaCapo v0.3.5: the last
    up-kernel list)."""
    return list(kernel_size_up[-1]) if kernel_size_up else [(3,) * dims] * 2


def crop_factors(downsample_factors: Sequence[Sequence[int]]) -> list[Shape]:
    """Per level, the product of all downsample factors at and below it (funlib's rule for
    keeping the output translation-equivariant)."""
    factors, product = [], None
    for factor in list(downsample_factors)[::-1]:
        product = (
            tuple(factor) if product is None else tuple(f * p for f, p in zip(factor, product))
        )
        factors.append(product)
    return factors[::-1]


def crop_to_factor_shape(shape, factor, kernel_sizes) -> Shape:
    """Largest shape s' <= shape with (s' - conv_crop) a multiple of `factor` (funlib rule)."""
    conv_crop = [sum(k[d] - 1 for k in kernel_sizes) for d in range(len(shape))]
    target = tuple((s - c) // f * f + c for s, c, f in zip(shape, conv_crop, factor))
    if target != tuple(shape) and not all(t > c for t, c in zip(target, conv_crop)):
        raise ShapeError(
            f"feature map of spatial shape {tuple(shape)} is too small to keep translation "
            f"equivariance with factor {tuple(factor)} and following convolutions {kernel_sizes}"
        )
    return target


def trace_output_shape(
    spatial_shape: Sequence[int],
    downsample_factors: Sequence[Sequence[int]],
    kernel_size_down: list[list[Shape]],
    kernel_size_up: list[list[Shape]],
    upsample_factors: Sequence[Sequence[int]] = (),
    padding: str = "valid",
) -> Shape:
    """Spatial output shape for a spatial input shape (kernels as from `kernel_lists`).

    Raises ShapeError naming the level and shape where pooling, cropping or a convolution
    fails."""
    start = tuple(int(s) for s in spatial_shape)
    dims = len(start)
    factors = [tuple(int(f) for f in factor) for factor in downsample_factors]
    crops = crop_factors(factors)

    def conv(shape, kernels, where):
        for k in kernels:
            # 'same' pads k // 2 per side: shape kept for odd kernels, +1 for even ones.
            pad = [2 * (kk // 2) if padding == "same" else 0 for kk in k]
            shape = tuple(s + p - (kk - 1) for s, p, kk in zip(shape, pad, k))
            if min(shape) < 1:
                raise ShapeError(
                    f"input shape {start} is too small: convolutions at {where} leave shape {shape}"
                )
        return shape

    def level(i, shape):
        shape = conv(shape, kernel_size_down[i], f"level {i} (down)")
        if i == len(factors):
            return shape
        factor = factors[i]
        if any(s % f for s, f in zip(shape, factor)):
            raise ShapeError(
                f"input shape {start} gives a feature map of shape {shape} at "
                f"level {i}, which max-pooling by {factor} cannot divide"
            )
        below = level(i + 1, tuple(s // f for s, f in zip(shape, factor)))
        up = tuple(s * f for s, f in zip(below, factor))
        if padding == "valid":
            try:
                up = crop_to_factor_shape(up, crops[i], kernel_size_up[i])
            except ShapeError as err:
                raise ShapeError(f"input shape {start}: level {i} (up): {err}") from None
        if any(u > s for u, s in zip(up, shape)):
            raise ShapeError(
                f"input shape {start}: upsampled map {up} at level {i} is larger "
                f"than its skip connection {shape}"
            )
        return conv(up, kernel_size_up[i], f"level {i} (up)")

    if min(start, default=0) < 1:
        raise ShapeError(f"input shape {start} has a size below 1")
    shape = level(0, start)
    for factor in upsample_factors:
        shape = tuple(s * int(f) for s, f in zip(shape, factor))
        shape = conv(shape, post_kernels(kernel_size_up, dims), "post-upsample")
    return shape
