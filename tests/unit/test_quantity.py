import pytest

from workspaces.quantity import cpu_cores, format_bytes, memory_bytes


@pytest.mark.parametrize(
    "text, expected",
    [("2Gi", 2 * 2**30), ("512Mi", 512 * 2**20), ("2G", 2 * 10**9), ("1.5Gi", int(1.5 * 2**30)), (1024, 1024), ("100", 100)],
)
def test_memory_quantities(text, expected):
    assert memory_bytes(text) == expected


@pytest.mark.parametrize("bad", ["2GB", "lots", "-1Gi", "", True, -5])
def test_bad_memory_quantities_name_the_accepted_forms(bad):
    with pytest.raises(ValueError, match="memory size such as 512Mi"):
        memory_bytes(bad)


@pytest.mark.parametrize("text, expected", [("500m", 0.5), ("2", 2.0), (1.5, 1.5), (4, 4.0)])
def test_cpu_quantities(text, expected):
    assert cpu_cores(text) == expected


@pytest.mark.parametrize("bad", ["two", "1.2.3", "-1", False])
def test_bad_cpu_quantities(bad):
    with pytest.raises(ValueError, match="CPU amount"):
        cpu_cores(bad)


def test_format_bytes():
    assert format_bytes(2 * 2**30) == "2 GiB"
    assert format_bytes(1536 * 2**20) == "1.5 GiB"
