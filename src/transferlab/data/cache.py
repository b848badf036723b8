"""The on-disk decoded-image cache: an image folder or CSV is decoded once per (content, size).

Decoding is the slow part of loading a folder (about 1 ms an image), and a folder of a hundred
thousand images does not fit in memory at 224 px. So the decoded uint8 pixels go to one file that
later runs, and every strategy of a `compare`, read instead of decoding again.

Layout under `<cache root>/decoded/` (the root is $TRANSFERLAB_CACHE or ~/.cache/transferlab,
shared with the feature cache):

    <key>/images.u8   uint8 rows (N, 3, S, S), C order, no header
    <key>/meta.json   shape, which input files the rows come from, the bad files with reasons

`key` hashes the decode rule's version, the size S and the content (BLAKE2b) of every input file
in order: editing, adding or reordering files, or another size, is another entry. An entry is
written under `<key>.tmp-<host>-<pid>-<random>/` and renamed into place only when complete, so a
decode killed half-way is never read as complete (its leftover is removed by the next writer).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import socket
import statistics
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from transferlab.imageio import UNREADABLE, header_size

DECODE_VERSION = 1  # bump when the decode rule changes: older entries stop matching
RAM_LIMIT_MB = 1024  # decoded sets up to this size load into RAM; larger ones stay file-backed
RAM_LIMIT_ENV = "TRANSFERLAB_IMAGES_IN_RAM_MB"
CHUNK = 512  # files decoded per round of the thread pool (bounds memory while decoding)
DECODE_ERRORS = (OSError, ValueError, EOFError, SyntaxError, Image.DecompressionBombError)
Decoder = Callable[[Path, int], np.ndarray]
_HOST = "".join(c if c.isalnum() else "_" for c in socket.gethostname())[:40] or "host"


def cache_root() -> Path:
    """$TRANSFERLAB_CACHE, else ~/.cache/transferlab: every transferlab cache lives under it."""
    return Path(os.environ.get("TRANSFERLAB_CACHE") or Path.home() / ".cache" / "transferlab")


def ram_limit_bytes() -> int:
    return int(float(os.environ.get(RAM_LIMIT_ENV, RAM_LIMIT_MB)) * 2**20)


def workers() -> int:
    """Threads for reading and decoding: PIL releases the GIL while it decodes and resizes."""
    return max(1, min(8, len(os.sched_getaffinity(0))))


def failure_reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


# -- scanning: content hashes and header sizes, nothing decoded ---------------------------------
@dataclass(frozen=True)
class FileInfo:
    """One input file before decoding: its content digest and header, or why it is unusable."""

    digest: str
    width: int = 0
    height: int = 0
    mode: str = ""
    error: str | None = None


def scan_file(path: Path) -> FileInfo:
    """Read the bytes once: hash them and parse the header (PIL reads no pixels for the size)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return FileInfo(f"unreadable:{exc}", error=failure_reason(exc))
    digest = hashlib.blake2b(data, digest_size=16).hexdigest()
    if not data:
        return FileInfo(digest, error="zero-byte file")
    try:
        with Image.open(io.BytesIO(data)) as im:
            w, h = header_size(im)
            return FileInfo(digest, w, h, im.mode)
    except DECODE_ERRORS as exc:
        reason = UNREADABLE if isinstance(exc, Image.UnidentifiedImageError) else None
        return FileInfo(digest, error=reason or failure_reason(exc))


def scan_files(paths: Sequence[Path], desc: str = "scan") -> list[FileInfo]:
    with ThreadPoolExecutor(workers()) as pool:
        return list(tqdm(pool.map(scan_file, paths, chunksize=64), total=len(paths), desc=desc,
                         unit="file", leave=False, disable=len(paths) < 2000))


def choose_size(infos: Sequence[FileInfo], max_size: int) -> int:
    """Store at the median shorter side of the originals, never above `max_size`.

    Larger originals are shrunk once here to what training would shrink them to anyway;
    smaller ones are kept at their own size (the recipe then picks the training resolution from
    it, as it does for IDX data) instead of being blown up and stored at 224 px.
    """
    sides = [min(i.width, i.height) for i in infos if i.error is None]
    if not sides:
        return max_size
    return max(1, min(max_size, int(statistics.median(sides))))


def originals_summary(infos: Sequence[FileInfo]) -> dict:
    """Width/height (min, median, max) and modes of the usable originals, for data.json."""
    good = [i for i in infos if i.error is None]
    if not good:
        return {"files": 0}

    def stats(values: list[int]) -> dict:
        return {"min": min(values), "median": statistics.median(values), "max": max(values)}

    return {"files": len(good), "width": stats([i.width for i in good]),
            "height": stats([i.height for i in good]),
            "modes": dict(Counter(i.mode for i in good).most_common())}


def content_key(infos: Sequence[FileInfo], size: int) -> str:
    h = hashlib.sha256(f"decode-v{DECODE_VERSION}|{size}|{len(infos)}".encode())
    for info in infos:
        h.update(info.digest.encode() + b"\n")
    return h.hexdigest()[:40]


# -- entries ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class CacheEntry:
    """A complete cache entry: decoded rows for `rows` (indices into the input files)."""

    path: Path
    key: str
    size: int
    rows: list[int]
    bad: list[tuple[int, str]]

    @property
    def data_file(self) -> Path:
        return self.path / "images.u8"

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.rows), 3, self.size, self.size)

    def images(self, ram_limit: int | None = None):
        """uint8 (N, 3, S, S): a tensor in RAM when it fits `ram_limit`, else file-backed rows."""
        import torch

        limit = ram_limit_bytes() if ram_limit is None else ram_limit
        if int(np.prod(self.shape)) <= limit:
            array = np.fromfile(self.data_file, dtype=np.uint8).reshape(self.shape)
            return torch.from_numpy(array)
        return DiskImages(self.data_file, self.shape, self.key)


def entries_dir() -> Path:
    return cache_root() / "decoded"


def open_entry(key: str) -> CacheEntry | None:
    """The complete entry for `key`, or None (missing, foreign version, wrong length)."""
    path = entries_dir() / key
    try:
        meta = json.loads((path / "meta.json").read_text())
        entry = CacheEntry(path, key, int(meta["size"]), [int(r) for r in meta["rows"]],
                           [(int(i), str(r)) for i, r in meta["bad"]])
        ok = (meta.get("version") == DECODE_VERSION and meta.get("key") == key
              and entry.data_file.stat().st_size == int(np.prod(entry.shape)))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return entry if ok else None


def _decode_one(decode: Decoder, path: Path, size: int) -> np.ndarray | str:
    try:
        return decode(path, size)
    except DECODE_ERRORS as exc:
        return failure_reason(exc)


def _decoded(paths: Sequence[Path], todo: list[int], size: int, decode: Decoder,
             desc: str) -> Iterator[tuple[int, np.ndarray | str]]:
    """(index, pixels or failure reason) for `todo`, in order, decoded by a thread pool."""
    bar = tqdm(total=len(todo), desc=desc, unit="img", leave=False, disable=len(todo) < 200)
    with ThreadPoolExecutor(workers()) as pool:
        for start in range(0, len(todo), CHUNK):
            part = todo[start:start + CHUNK]
            for i, out in zip(part, pool.map(lambda j: _decode_one(decode, paths[j], size),
                                             part)):
                bar.update()
                yield i, out
    bar.close()


def build_entry(key: str, paths: Sequence[Path], infos: Sequence[FileInfo], size: int,
                decode: Decoder, desc: str = "decode") -> CacheEntry:
    """Decode every usable file once into a new entry; written aside, renamed when complete."""
    final = entries_dir() / key
    _remove_abandoned(key)
    tmp = final.with_name(f"{key}.tmp-{_HOST}-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    tmp.mkdir(parents=True)
    try:
        bad = [(i, info.error) for i, info in enumerate(infos) if info.error is not None]
        todo = [i for i, info in enumerate(infos) if info.error is None]
        rows: list[int] = []
        with open(tmp / "images.u8", "wb") as f:
            for i, out in _decoded(paths, todo, size, decode, desc):
                if isinstance(out, str):
                    bad.append((i, out))
                    continue
                f.write(np.ascontiguousarray(out.transpose(2, 0, 1)).tobytes())
                rows.append(i)
            f.flush()
            os.fsync(f.fileno())
        bad.sort()
        meta = {"version": DECODE_VERSION, "key": key, "size": size, "rows": rows, "bad": bad}
        (tmp / "meta.json").write_text(json.dumps(meta))
        return _publish(tmp, final, key)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _remove_abandoned(key: str) -> None:
    """Delete half-written entries for `key` whose writing process (on this host) is gone."""
    for tmp in entries_dir().glob(f"{key}.tmp-{_HOST}-*"):
        try:
            os.kill(int(tmp.name.removeprefix(f"{key}.tmp-{_HOST}-").split("-")[0]), 0)
        except ProcessLookupError:
            shutil.rmtree(tmp, ignore_errors=True)
        except (ValueError, IndexError, PermissionError):  # not ours to judge
            continue


def _publish(tmp: Path, final: Path, key: str) -> CacheEntry:
    """Rename the finished entry into place; a complete one written meanwhile wins."""
    existing = open_entry(key)
    if existing is None:
        shutil.rmtree(final, ignore_errors=True)  # a damaged entry under the final name
        try:
            os.rename(tmp, final)
        except OSError:  # another process published the same key first
            pass
    entry = open_entry(key)
    if entry is None:
        raise OSError(f"decode cache entry {final} could not be written")
    return entry


def cached_decode(paths: Sequence[Path], infos: Sequence[FileInfo], size: int, decode: Decoder,
                  desc: str = "decode") -> tuple[CacheEntry, bool]:
    """The entry for these files at `size`, and whether it had to be decoded now."""
    key = content_key(infos, size)
    entry = open_entry(key)
    if entry is not None:
        return entry, False
    return build_entry(key, paths, infos, size, decode, desc), True


# -- file-backed images --------------------------------------------------------------------
class _RowFile:
    """A read-only descriptor per process (reopened after fork); pread needs no shared offset."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._pid = -1

    def fd(self) -> int:
        if self._fd is None or self._pid != os.getpid():
            self._fd, self._pid = os.open(self.path, os.O_RDONLY), os.getpid()
        return self._fd

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
