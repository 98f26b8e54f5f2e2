"""The airfoil data: get_data_ch7 against the book's numpy code, and its errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import minidl
from minidl.d2l.optimization import get_data_ch7
from minidl.errors import MinidlError


def test_get_data_ch7_is_the_books_computation(airfoil_path: Path) -> None:
    features, labels = get_data_ch7(airfoil_path)
    data = np.genfromtxt(airfoil_path, delimiter="\t")  # the book's get_data_ch7
    data = (data - data.mean(axis=0)) / data.std(axis=0)
    assert features.shape == (1500, 5) and labels.shape == (1500,)
    assert features.dtype == labels.dtype == torch.float32
    torch.testing.assert_close(features, torch.tensor(data[:1500, :-1], dtype=torch.float32))
    torch.testing.assert_close(labels, torch.tensor(data[:1500, -1], dtype=torch.float32))


def test_the_path_defaults_to_minidl_data(airfoil_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINIDL_DATA", str(airfoil_path.parent))
    features, _ = get_data_ch7()
    torch.testing.assert_close(features, get_data_ch7(airfoil_path)[0])


def test_without_minidl_data_it_reads_the_books_relative_path(
    airfoil_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MINIDL_DATA", raising=False)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "airfoil_self_noise.dat").symlink_to(airfoil_path)  # a link, not a copy
    notebook_dir = tmp_path / "code" / "chapter07_optimization"
    notebook_dir.mkdir(parents=True)
    monkeypatch.chdir(notebook_dir)
    assert get_data_ch7()[0].shape == (1500, 5)


def test_the_dataset_serves_the_same_data(registry: minidl.Registry, airfoil_path: Path) -> None:
    data = registry.build("dataset", "airfoil", {"path": str(airfoil_path)})
    X, y = data.tensors("train")
    expected_X, expected_y = get_data_ch7(airfoil_path)
    assert torch.equal(X, expected_X) and torch.equal(y, expected_y)
    assert (data.num_inputs, data.num_outputs, data.splits) == (5, 1, ("train",))


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "airfoil.dat"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("text", "words"), [
    ("1\t2\t3\t4\t5\t6\n1\t2\t3\t4\t5\n", "line 2: 5 columns"),
    ("1\t2\t3\t4\t5\t6\n1\t2\t3\tx\t5\t6\n", "line 2: non-numeric value"),
    ("1\t2\t3\t4\t5\t6\n", "has 1 rows"),
    ("1\t2\t3\t4\t5\t6\n1\t2\t3\t4\t9\t6\n", "column 1 is constant"),
    ("", "has 0 rows"),
])
def test_a_malformed_file_is_named_with_what_was_expected(tmp_path: Path, text: str, words: str,
                                                         registry: minidl.Registry) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(MinidlError) as info:
        registry.build("dataset", "airfoil", {"path": str(path)})
    message = str(info.value)
    assert str(path) in message and words in message and "\n" not in message
    assert "6 numeric columns" in message or "constant" in message


def test_a_missing_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINIDL_DATA", str(tmp_path))
    with pytest.raises(MinidlError, match=r"airfoil data file '.*airfoil_self_noise.dat' does not exist; "
                                          r"expected the UCI airfoil self-noise file"):
        get_data_ch7()
