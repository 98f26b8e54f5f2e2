"""A reader for IDX files, the format of MNIST and Fashion-MNIST, gzipped or not.

An IDX file is a 4-byte magic number ``0x0000TTNN`` (``TT`` the element type, ``NN``
the number of dimensions), ``NN`` big-endian uint32 sizes, then the elements in
row-major order, big-endian. Labels are ``0x00000801`` (uint8, 1-D), images
``0x00000803`` (uint8, 3-D). Nothing here imports torch.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from minidl.errors import MinidlError

__all__ = ["IDX_DTYPES", "IMAGES_MAGIC", "LABELS_MAGIC", "read_idx"]

LABELS_MAGIC = 0x00000801  # uint8, 1 dimension
IMAGES_MAGIC = 0x00000803  # uint8, 3 dimensions

#: Element type code -> big-endian NumPy dtype, as the IDX format defines them.
IDX_DTYPES: dict[int, str] = {
    0x08: ">u1",
    0x09: ">i1",
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}

_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path: str | os.PathLike[str], magic: int | None = None) -> np.ndarray:
    """Read an IDX file (plain or gzipped) into a NumPy array in native byte order.

    ``magic``, when given, is the magic number the file must have (``LABELS_MAGIC``,
    ``IMAGES_MAGIC``). Raises :class:`~minidl.errors.MinidlError` naming the file for
    a missing, unreadable, mislabelled or truncated file.
    """
    path = Path(path)
    raw = _read_bytes(path)
    found, dtype, shape = _parse_header(path, raw, magic)
    offset = 4 + 4 * len(shape)
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = len(raw) - offset
    if actual != expected:
        state = "truncated" if actual < expected else "too long"
        raise MinidlError(
            f"IDX file {path} is {state}: its header (magic 0x{found:08X}, shape {shape}) "
            f"announces {expected} bytes of data, the file holds {actual}"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=offset).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise MinidlError(f"cannot read IDX file {path}: {exc.strerror or exc}") from None
    if not raw.startswith(_GZIP_MAGIC):  # decided by content, not by the name's suffix
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise MinidlError(f"IDX file {path} is a damaged or truncated gzip file: {exc}") from None


def _parse_header(path: Path, raw: bytes, magic: int | None) -> tuple[int, np.dtype, tuple[int, ...]]:
    """Return (magic number, dtype, shape) from the header, checked against ``magic``."""
    wanted = f"0x{magic:08X}" if magic is not None else "0x0000TTNN with a known type code TT"
    if len(raw) < 4:
        raise MinidlError(f"IDX file {path} is truncated: {len(raw)} bytes, expected magic number {wanted}")
    found = int.from_bytes(raw[:4], "big")
    type_code, ndim = raw[2], raw[3]
    if raw[:2] != b"\x00\x00" or type_code not in IDX_DTYPES or (magic is not None and found != magic):
        raise MinidlError(f"IDX file {path} has magic number 0x{found:08X}; expected {wanted}")
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise MinidlError(
            f"IDX file {path} is truncated: its header needs {header_size} bytes "
            f"for {ndim} dimensions, the file holds {len(raw)}"
        )
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return found, np.dtype(IDX_DTYPES[type_code]), shape
