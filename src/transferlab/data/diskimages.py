"""File-backed uint8 images: the rows of a decode-cache file (data/cache.py), read on demand.

A folder larger than memory still trains: an ImageSet holds a DiskImages instead of a tensor,
subsets select rows without reading pixels, and each batch reads only its own rows.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np


class _RowFile:
    """A read-only descriptor per process (reopened after fork); pread needs no shared offset.

    Opened on first use, under a lock: loader threads reading their first batches at once
    would otherwise each open a descriptor and all but one would leak. The lock is per process
    (a fresh one after fork, never one a parent's thread held), and neither it nor the
    descriptor is pickled: a spawned worker opens its own.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._pid = -1
        self._locks: dict[int, threading.Lock] = {}

    def fd(self) -> int:
        pid = os.getpid()
        if self._fd is not None and self._pid == pid:
            return self._fd
        with self._locks.setdefault(pid, threading.Lock()):
            if self._fd is None or self._pid != pid:
                self._fd, self._pid = os.open(self.path, os.O_RDONLY), pid
            return self._fd

    def __getstate__(self) -> dict:
        return {"path": self.path}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["path"])

    def __del__(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            try:
                os.close(self._fd)
            except (OSError, TypeError):  # interpreter shutdown
                pass


class DiskImages:
    """uint8 (N, C, H, W) images that stay in their cache file; indexing reads the rows asked for.

    Quacks like the tensor an ImageSet holds: `shape`, `dtype`, `device`, `dim()`, `numel()`,
    `len()`, `x[index]` (a new CPU tensor) and `to(device)` (all rows). `select(index)` is a
    subset that reads no pixels. Rows are read with pread, not mmap: pages read stay in the OS
    page cache, shared and evictable, instead of growing this process's resident memory.
    """

    def __init__(self, path: Path, shape: tuple[int, int, int, int], key: str,
                 rows: np.ndarray | None = None, file: _RowFile | None = None) -> None:
        import torch

        self.path, self.key = Path(path), key
        self.row_shape = tuple(shape[1:])
        self.rows = np.arange(shape[0], dtype=np.int64) if rows is None else rows
        self._file = file or _RowFile(self.path)
        self.dtype, self.device = torch.uint8, torch.device("cpu")

    @property
    def shape(self):
        import torch

        return torch.Size((len(self.rows), *self.row_shape))

    def __len__(self) -> int:
        return len(self.rows)

    def dim(self) -> int:
        return 4

    def numel(self) -> int:
        return len(self.rows) * int(np.prod(self.row_shape))

    def select(self, index) -> DiskImages:
        return DiskImages(self.path, (0, *self.row_shape), self.key, _pick(self.rows, index),
                          self._file)

    def __getitem__(self, index):
        if isinstance(index, (int, np.integer)):
            return self._read(self.rows[[index]])[0]
        return self._read(_pick(self.rows, index))

    def _read(self, rows: np.ndarray):
        import torch

        rows = np.atleast_1d(rows)
        row_bytes = int(np.prod(self.row_shape))
        out = np.empty((len(rows), *self.row_shape), dtype=np.uint8)
        if not len(rows):  # e.g. no wrong predictions to show
            return torch.from_numpy(out)
        flat = out.reshape(len(rows), row_bytes)
        breaks = np.flatnonzero(np.diff(rows) != 1) + 1
        for lo, hi in zip(np.r_[0, breaks], np.r_[breaks, len(rows)]):
            _pread_into(self._file.fd(), memoryview(flat[lo:hi]).cast("B"),
                        int(rows[lo]) * row_bytes)
        return torch.from_numpy(out)

    def to(self, device, non_blocking: bool = False, chunk: int = 4096):
        """Every row on `device`, read chunk by chunk (host memory holds one chunk at a time)."""
        import torch

        out = torch.empty(tuple(self.shape), dtype=torch.uint8, device=device)
        for i in range(0, len(self.rows), chunk):
            out[i:i + chunk] = self._read(self.rows[i:i + chunk]).to(device)
        return out

    def cpu(self):
        return self.to("cpu")

    def identity(self) -> bytes:
        """Content identity: the entry key (hash of file contents, size, rule) and the rows."""
        return self.key.encode() + self.rows.tobytes()


def _pick(rows: np.ndarray, index) -> np.ndarray:
    """rows[index] for a slice, an int/bool tensor, array or list."""
    if isinstance(index, slice):
        return rows[index]
    if hasattr(index, "cpu"):  # a torch tensor
        index = index.cpu().numpy()
    index = np.asarray(index)
    if index.dtype == bool:
        return rows[np.flatnonzero(index)]
    return rows[index.astype(np.int64, copy=False)]


def _pread_into(fd: int, buf: memoryview, offset: int) -> None:
    while len(buf):
        n = os.preadv(fd, [buf], offset)
        if n <= 0:
            raise OSError(f"decode cache file ended early (fd {fd}, offset {offset})")
        buf, offset = buf[n:], offset + n
