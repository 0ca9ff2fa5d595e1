import pytest
import torch

from dacapo_flow.devices import select_device, set_threads
from helpers_tiny import torch_threads

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")


@no_cuda
def test_auto_takes_the_cpu_without_cuda(monkeypatch):
    monkeypatch.delenv("DACAPO_FLOW_DEVICE", raising=False)
    assert select_device() == torch.device("cpu")
    assert select_device("auto") == torch.device("cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_auto_takes_cuda_when_present(monkeypatch):
    monkeypatch.delenv("DACAPO_FLOW_DEVICE", raising=False)
    assert select_device().type == "cuda"


def test_an_explicit_device_is_used(monkeypatch):
    monkeypatch.setenv("DACAPO_FLOW_DEVICE", "auto")
    assert select_device("cpu") == torch.device("cpu")


def test_the_environment_chooses_when_no_device_is_given(monkeypatch):
    monkeypatch.setenv("DACAPO_FLOW_DEVICE", "cpu")
    assert select_device(None) == torch.device("cpu")


@no_cuda
def test_requesting_cuda_without_cuda_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("DACAPO_FLOW_DEVICE", raising=False)
    with pytest.raises(RuntimeError, match="'cuda:0' was requested but CUDA is not available"):
        select_device("cuda:0")
    monkeypatch.setenv("DACAPO_FLOW_DEVICE", "cuda")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        select_device()


def test_an_unknown_device_name_is_an_error():
    with pytest.raises(RuntimeError):
        select_device("tpu7")


def test_set_threads_sets_torch_threads_and_none_keeps_them():
    with torch_threads(3):
        set_threads(None)
        assert torch.get_num_threads() == 3
        set_threads(0)
        assert torch.get_num_threads() == 3
        set_threads(1)
        assert torch.get_num_threads() == 1
