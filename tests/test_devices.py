import pytest
import torch

from effnetv2.devices import Runtime, memory_guard, resolve, resolve_device
from effnetv2.errors import DeviceError, MemoryLimitError, UnsupportedDtypeError
from effnetv2.precision import DTYPES, check_dtype, cpu_name


def test_auto_picks_cuda_only_when_present():
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device(None) == resolve_device(" AUTO ")


def test_explicit_cpu_and_cuda():
    assert resolve_device("cpu") == torch.device("cpu")
    if torch.cuda.is_available():
        assert resolve_device("cuda").type == "cuda"
    else:
        with pytest.raises(DeviceError, match="CUDA is not available"):
            resolve_device("cuda")


@pytest.mark.parametrize("bad", ["gpu0", "", "xla", "cuda:99"])
def test_bad_devices_are_one_clear_error(bad):
    match = "CUDA is not available" if bad == "cuda:99" and not torch.cuda.is_available() else "device"
    with pytest.raises(DeviceError, match=match) as info:
        resolve_device(bad)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, ValueError)


def test_dtypes():
    cpu = torch.device("cpu")
    assert [check_dtype(d, cpu, "autocast") for d in DTYPES] == ["fp32", "bf16", "fp16"]  # emulated where not native
    with pytest.raises(UnsupportedDtypeError, match=r"dtype must be one of fp32, bf16, fp16, got 'int8'"):
        check_dtype("int8", cpu, "autocast")
    with pytest.raises(UnsupportedDtypeError):
        resolve("cpu", "float32")


@pytest.mark.parametrize("dtype", ["fp32", "bf16", "fp16"])
def test_autocast_runs_convs_in_the_dtype(dtype):
    rt = resolve("cpu", dtype)
    conv = torch.nn.Conv2d(3, 4, 3)
    with rt.autocast():
        y = conv(torch.randn(1, 3, 8, 8))
    assert y.dtype == DTYPES[dtype]
    assert conv.weight.dtype == torch.float32  # autocast: the weights are not converted


def test_channels_last_moves_model_and_input():
    rt = resolve("cpu", channels_last=True)
    conv = rt.prepare(torch.nn.Conv2d(3, 4, 3))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert rt.input(torch.randn(2, 3, 8, 8)).is_contiguous(memory_format=torch.channels_last)
    assert (
        not Runtime(torch.device("cpu")).input(torch.randn(2, 3, 8, 8)).is_contiguous(memory_format=torch.channels_last)
    )


def test_describe_names_device_dtype_threads():
    d = resolve("cpu", "bf16").describe()
    assert d == {
        "device": f"cpu ({cpu_name()})",
        "dtype": "bf16",
        "threads": torch.get_num_threads(),
        "channels_last": False,
    }
    assert cpu_name()


def test_memory_guard_turns_a_real_allocation_failure_into_one_line():
    expected = r"^out of memory for batch 9 at 640 px on cpu: use a smaller batch or image size$"
    with pytest.raises(MemoryLimitError, match=expected), memory_guard("batch 9 at 640 px on cpu"):
        torch.empty(2**40, dtype=torch.uint8)  # 1 TiB: the CPU allocator refuses it
    with pytest.raises(RuntimeError, match=r"^unrelated$"), memory_guard("batch 1"):
        raise RuntimeError("unrelated")  # other errors pass through unchanged
