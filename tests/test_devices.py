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


def test_auto_data_workers_follow_the_threads():
    from dacapo_flow.devices import data_workers

    assert data_workers(3, threads=8) == 3  # an explicit count is kept
    assert data_workers("auto", threads=1) == 0  # one core: batches inline
    assert data_workers("auto", threads=2) == 1
    assert data_workers("auto", threads=8) == 7
    assert data_workers("auto", threads=1, device="cuda") == 1  # a GPU never waits inline
    with torch_threads(2):
        assert data_workers("auto") == 1


def test_float32_autocast_is_off_and_bfloat16_casts():
    from dacapo_flow.devices import autocast

    layer = torch.nn.Linear(3, 2)
    x = torch.ones(1, 3)
    with autocast(torch.device("cpu"), "float32"):
        assert layer(x).dtype == torch.float32
    with autocast(torch.device("cpu"), "bfloat16"):
        assert layer(x).dtype == torch.bfloat16


def test_batches_go_to_the_device_in_the_requested_layout():
    import numpy as np

    from dacapo_flow.devices import to_device

    array = np.arange(2 * 3 * 4 * 5 * 6, dtype=np.float32).reshape(2, 3, 4, 5, 6)
    plain = to_device(array, torch.device("cpu"))
    assert plain.is_contiguous() and torch.equal(plain, torch.from_numpy(array))
    last = to_device(array, torch.device("cpu"), channels_last=True)
    assert last.is_contiguous(memory_format=torch.channels_last_3d)
    assert torch.equal(last, plain)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_batches_come_through_pinned_memory():
    import numpy as np

    from dacapo_flow.devices import to_device

    tensor = to_device(np.ones((1, 1, 4, 4, 4), np.float32), torch.device("cuda"))
    assert tensor.is_cuda


def test_deterministic_switches_torch_to_deterministic_algorithms():
    from types import SimpleNamespace

    from dacapo_flow.devices import configure_backends

    before = torch.are_deterministic_algorithms_enabled()
    try:
        trainer = SimpleNamespace(deterministic=True, cudnn_benchmark=True)
        configure_backends(trainer, torch.device("cpu"))
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.is_deterministic_algorithms_warn_only_enabled()
        assert not torch.backends.cudnn.benchmark
    finally:
        torch.use_deterministic_algorithms(before)
