"""minidl_classify.idx.read_idx against files written by the format's own layout."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from minidl_classify.idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx

from minidl.errors import MinidlError


@pytest.mark.parametrize("compress", [False, True])
def test_reads_images_and_labels_plain_or_gzipped(tmp_path, idx_writer, compress):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    labels = np.array([9, 0], dtype=np.uint8)
    got_images = read_idx(idx_writer(tmp_path / "i", images, compress=compress), IMAGES_MAGIC)
    got_labels = read_idx(idx_writer(tmp_path / "l", labels, compress=compress), LABELS_MAGIC)
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)
    assert got_images.dtype == np.uint8 and got_images.shape == (2, 3, 4)


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "float32", "float64"])
def test_generic_dtype_codes_come_back_in_native_byte_order(tmp_path, idx_writer, dtype):
    array = (np.arange(12).reshape(3, 4) - 5).astype(dtype)
    got = read_idx(idx_writer(tmp_path / "a", array))
    np.testing.assert_array_equal(got, array)
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative


def test_gzip_is_detected_by_content_not_name(tmp_path, idx_writer):
    path = idx_writer(tmp_path / "labels.idx", np.array([1, 2], np.uint8), compress=True)
    np.testing.assert_array_equal(read_idx(path), [1, 2])


def test_wrong_magic_names_file_and_expected_magic(tmp_path, idx_writer):
    path = idx_writer(tmp_path / "labels", np.zeros(3, np.uint8))
    with pytest.raises(MinidlError, match=r"labels.*0x00000801.*expected 0x00000803"):
        read_idx(path, IMAGES_MAGIC)


def test_not_an_idx_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(b"hello world")
    with pytest.raises(MinidlError, match=r"notes\.txt has magic number 0x68656C6C; expected"):
        read_idx(path)


@pytest.mark.parametrize("cut", [1, 10, 100])
def test_truncated_data_names_expected_size(tmp_path, idx_writer, cut):
    path = idx_writer(tmp_path / "images", np.zeros((2, 28, 28), np.uint8))
    path.write_bytes(path.read_bytes()[:-cut])
    with pytest.raises(MinidlError, match=rf"images is truncated.*announces 1568 bytes.*holds {1568 - cut}"):
        read_idx(path, IMAGES_MAGIC)


def test_truncated_header(tmp_path, idx_writer):
    path = idx_writer(tmp_path / "images", np.zeros((2, 28, 28), np.uint8))
    path.write_bytes(path.read_bytes()[:9])
    with pytest.raises(MinidlError, match="header needs 16 bytes"):
        read_idx(path)
    path.write_bytes(b"\x00\x00")
    with pytest.raises(MinidlError, match="truncated: 2 bytes, expected magic number 0x00000803"):
        read_idx(path, IMAGES_MAGIC)


def test_trailing_bytes_are_an_error(tmp_path, idx_writer):
    path = idx_writer(tmp_path / "labels", np.zeros(3, np.uint8))
    path.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(MinidlError, match="too long"):
        read_idx(path)


def test_damaged_gzip_and_missing_file(tmp_path, idx_writer):
    path = tmp_path / "labels.gz"
    path.write_bytes(gzip.compress(b"\x00\x00\x08\x01" + bytes(8))[:-6])
    with pytest.raises(MinidlError, match=r"labels\.gz is a damaged or truncated gzip file"):
        read_idx(path)
    with pytest.raises(MinidlError, match=r"cannot read IDX file .*absent"):
        read_idx(tmp_path / "absent")
