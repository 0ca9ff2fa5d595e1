"""The prediction head builder shared by `Task.create_model` and the packaged network source."""

import ast
from pathlib import Path

import pytest
import torch

from dacapo_flow.nn import head as head_module
from dacapo_flow.nn.head import prediction_head
from dacapo_flow.nn.unet import CNNectomeUNet


def unet(padding="valid", section_axis=None):
    plane = section_axis is not None
    return CNNectomeUNet(
        input_shape=(20, 20) if plane else (20, 20, 20),
        fmaps_in=1,
        fmaps_out=4,
        num_fmaps=4,
        fmap_inc_factor=2,
        downsample_factors=[(2, 2) if plane else (2, 2, 2)],
        padding=padding,
        section_axis=section_axis,
    )


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_a_wide_head_pads_only_a_same_padded_network(padding):
    conv = prediction_head(unet(padding), channels=2, kernel_size=3)
    assert isinstance(conv, torch.nn.Conv3d) and (conv.in_channels, conv.out_channels) == (4, 2)
    assert conv.kernel_size == (3, 3, 3)
    assert conv.padding == ((1, 1, 1) if padding == "same" else (0, 0, 0))


@pytest.mark.parametrize("section_axis", [0, 1, 2])
def test_a_section_wise_networks_head_stays_in_plane(section_axis):
    conv = prediction_head(unet("same", section_axis), channels=2, kernel_size=3)
    assert isinstance(conv, torch.nn.Conv3d)
    assert conv.kernel_size == tuple(1 if a == section_axis else 3 for a in range(3))
    assert conv.padding == tuple(0 if a == section_axis else 1 for a in range(3))
    sections = torch.rand(1, 4, 5, 5, 5)
    assert conv(sections).shape == (1, 2, 5, 5, 5)  # no section mixes with its neighbours


def test_the_module_imports_only_torch_so_packages_can_copy_it():
    tree = ast.parse(Path(head_module.__file__).read_text())
    imported = {
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in tree.body
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    }
    assert imported <= {"__future__", "torch"}
