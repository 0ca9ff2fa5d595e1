import ast
import importlib.util

import pytest
import torch

from dacapo_flow.export.cellmap_flow import write_cellmap_flow_script
from dacapo_flow.export.selected import load_selected
from helpers_export import VOXEL_SIZE, write_selected

# cellmap-flow's script safety check (cellmap_flow.plugins.analyze_script) refuses these.
FORBIDDEN_IMPORTS = {"os", "subprocess", "sys"}
FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__"}


@pytest.fixture(scope="module", params=[None, 0], ids=["3d", "sections"])
def script(tmp_path_factory, request):
    """The script of a 3D network, and of a 2D one run section by section along z."""
    root = tmp_path_factory.mktemp("cellmap")
    paths = write_selected(root / "run", section_axis=request.param)
    selected = load_selected(**paths)
    path = write_cellmap_flow_script(selected, paths["weights"], root / "flow" / "tiny_model.py")
    return path, selected


def test_script_passes_cellmap_flows_safety_rules(script):
    tree = ast.parse(script[0].read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            assert not {a.name.split(".")[0] for a in node.names} & FORBIDDEN_IMPORTS
        if isinstance(node, ast.ImportFrom):
            assert (node.module or "").split(".")[0] not in FORBIDDEN_IMPORTS
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in FORBIDDEN_CALLS


def test_script_imports_and_runs_on_its_declared_shapes(script):
    path, selected = script
    spec = importlib.util.spec_from_file_location("tiny_model", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.input_voxel_size == VOXEL_SIZE == module.output_voxel_size
    assert module.read_shape == tuple(s * v for s, v in zip(module.input_size, VOXEL_SIZE))
    assert module.output_channels == 2 and module.channel_names == ["mito", "er"]
    raw = torch.randint(0, 255, (1, 1, *module.input_size), dtype=torch.uint8)
    with torch.no_grad():
        output = module.model(raw)
        # Training's normalisation: (raw - min) * float32(1 / (max - min)).
        expected = selected.model(raw.float() * torch.tensor(1 / 255.0))
    assert tuple(output.shape) == (1, module.output_channels, *module.output_size)
    assert tuple(module.block_shape) == (*module.output_size, module.output_channels)
    assert torch.equal(output, expected)


def test_the_weights_file_is_the_one_named_and_must_lie_beside_the_script(tmp_path):
    paths = write_selected(tmp_path / "run")
    selected = load_selected(**paths)
    folder = tmp_path / "flow"
    named = folder / "declared_weights.pt"
    script = write_cellmap_flow_script(selected, paths["weights"], folder / "m.py", named)
    assert named.is_file() and not (folder / "m_weights.pt").exists()
    assert "'declared_weights.pt'" in script.read_text()
    with pytest.raises(ValueError, match="must be in the script's folder"):
        write_cellmap_flow_script(selected, paths["weights"], folder / "m.py", tmp_path / "w.pt")
