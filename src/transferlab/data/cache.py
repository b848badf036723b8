"""The on-disk decoded-image cache: an image folder or CSV is decoded once per (content, size).

Decoding is the slow part of loading a folder (about 1 ms an image), and a folder of a hundred
thousand images does not fit in memory at 224 px. So the decoded uint8 pixels go to one file that
later runs, and every strategy of a `compare`, read instead of decoding again.

Layout under `<cache root>/decoded/` (the root is $TRANSFERLAB_CACHE or ~/.cache/transferlab,
shared with the feature cache):

    <key>/images.u8   uint8 rows (N, 3, S, S), C order, no header
    <key>/meta.json   shape, which input files the rows come from, the bad files with reasons

and `<cache root>/scans/<hash of the path list>.json` remembers each file's digest and header by
its stat signature, so a second run over the same paths, none of them changed (same size,
mtime, ctime and inode), reads no image file at all (see `scan_files`).

`key` hashes the decode rule's version, the size S and the content (BLAKE2b) of every input file
in order: editing, adding or reordering files, or another size, is another entry. An entry is
written under `<key>.tmp-<host>-<pid>-<random>/` and renamed into place only when complete, so a
decode killed half-way is never read as complete (its leftover is removed by the next writer).
Two processes decoding one key at once (torchrun ranks, parallel runs) both finish; the first
rename wins and the other uses that entry and drops its own.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import shutil
import socket
import statistics
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from transferlab.data.diskimages import DiskImages
from transferlab.data.imageio import UNREADABLE, header_size
from transferlab.data.listing import DataWarning
from transferlab.errors import DataError

DECODE_VERSION = 1  # bump when the decode rule changes: older entries stop matching
RAM_LIMIT_MB = 1024  # decoded sets up to this size load into RAM; larger ones stay file-backed
RAM_LIMIT_ENV = "TRANSFERLAB_IMAGES_IN_RAM_MB"
RACY_NS = 2_000_000_000  # files changed this close to a scan record are read again
CHUNK = 512  # files decoded per round of the thread pool (bounds memory while decoding)
DECODE_ERRORS = (OSError, ValueError, EOFError, SyntaxError, Image.DecompressionBombError)
Decoder = Callable[[Path, int], np.ndarray]
WRITE_HINT = "free space or set TRANSFERLAB_CACHE to a writable folder"
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


def _scan_all(paths: Sequence[Path], desc: str) -> list[FileInfo]:
    with ThreadPoolExecutor(workers()) as pool:
        return list(tqdm(pool.map(scan_file, paths, chunksize=64), total=len(paths), desc=desc,
                         unit="file", leave=False, disable=len(paths) < 2000))


def _stat_sig(path: Path) -> list[int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def scan_files(paths: Sequence[Path], desc: str = "scan") -> list[FileInfo]:
    """FileInfo for every path; unchanged files reuse the digest and header of the last scan.

    Like git's index: a file whose size, mtime, ctime and inode all match the record is not
    read again (ctime changes on every write and cannot be set back, unlike mtime). A file
    modified within RACY_NS of the record being written is read again, in case it changed
    within one timestamp tick. The cache key is still the content digest.
    """
    memo_file = cache_root() / "scans" / f"{_paths_key(paths)}.json"
    written, records = _read_memo(memo_file)
    sigs = [_stat_sig(p) for p in paths]
    infos: list[FileInfo | None] = []
    for p, sig in zip(paths, sigs):
        rec = records.get(str(p))
        fresh = sig is not None and rec is not None and rec[0] == sig and sig[1] < written - RACY_NS
        infos.append(FileInfo(*rec[1]) if fresh else None)
    todo = [i for i, info in enumerate(infos) if info is None]
    for i, info in zip(todo, _scan_all([paths[i] for i in todo], desc)):
        infos[i] = info
    if todo:
        records = {str(p): [sig, list(_astuple(info))] for p, sig, info
                   in zip(paths, sigs, infos) if sig is not None}
        try:
            _write_memo(memo_file, records)
        except OSError as exc:  # only costs the next run a re-read: warn and go on
            warnings.warn(f"{memo_file}: cannot save the scan record ({failure_reason(exc)}); "
                          f"the next run reads every file again; {WRITE_HINT}", DataWarning,
                          stacklevel=2)
    return infos


def _astuple(info: FileInfo) -> tuple:
    return (info.digest, info.width, info.height, info.mode, info.error)


def _paths_key(paths: Sequence[Path]) -> str:
    joined = "\0".join(os.path.abspath(p) for p in paths)  # string work only: no syscalls
    return hashlib.sha256(joined.encode()).hexdigest()[:32]


def _read_memo(path: Path) -> tuple[int, dict]:
    try:
        memo = json.loads(path.read_text())
        return int(memo["written_ns"]), dict(memo["files"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0, {}


def _write_memo(path: Path, records: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp-{_HOST}-{os.getpid()}")
    tmp.write_text(json.dumps({"written_ns": time.time_ns(), "files": records}))
    os.replace(tmp, path)


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
    return _read_entry(entries_dir() / key, key)


def _read_entry(path: Path, key: str) -> CacheEntry | None:
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
    """Decode every usable file once into a new entry; written aside, renamed when complete.

    A cache that cannot be written (full disk, unwritable root) is a DataError naming the
    folder and the fix; unreadable input files never get here (they are bad files).
    """
    final = entries_dir() / key
    tmp = final.with_name(f"{key}.tmp-{_HOST}-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        _remove_abandoned(key)
        tmp.mkdir(parents=True)
        return _write_entry(tmp, final, key, paths, infos, size, decode, desc)
    except OSError as exc:
        raise DataError(f"decode cache {entries_dir()}: cannot write ({failure_reason(exc)}); "
                        f"{WRITE_HINT}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _write_entry(tmp: Path, final: Path, key: str, paths: Sequence[Path],
                 infos: Sequence[FileInfo], size: int, decode: Decoder, desc: str) -> CacheEntry:
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


def _remove_abandoned(key: str) -> None:
    """Delete half-written (tmp) or set-aside (stale) folders for `key` whose writing process
    (on this host) is gone."""
    for kind in ("tmp", "stale"):
        prefix = f"{key}.{kind}-{_HOST}-"
        for tmp in entries_dir().glob(f"{prefix}*"):
            try:
                os.kill(int(tmp.name.removeprefix(prefix).split("-")[0]), 0)
            except ProcessLookupError:
                shutil.rmtree(tmp, ignore_errors=True)
            except (ValueError, IndexError, PermissionError):  # not ours to judge
                continue


def _publish(tmp: Path, final: Path, key: str) -> CacheEntry:
    """Rename the finished entry into place; a complete one published meanwhile wins.

    The rename comes first: it succeeds only while nothing sits under the final name, so a
    writer never deletes what another has just published (checking first, then deleting, would
    race with that writer's rename). A damaged entry is moved aside under a unique name before
    it is deleted, so only the writer that moved it deletes it.
    """
    for _ in range(3):
        try:
            os.rename(tmp, final)
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
        entry = open_entry(key)
        if entry is not None:
            return entry  # ours, or an equal one another process published first
        _set_aside(final, key)
    raise OSError(f"decode cache entry {final} could not be written")


def _set_aside(final: Path, key: str) -> None:
    """Move a damaged entry out of the final name, then delete it (gone already is fine).

    What was moved may be a complete entry another writer published after we looked: it is
    put back, not deleted.
    """
    stale = final.with_name(f"{final.name}.stale-{_HOST}-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        os.rename(final, stale)
    except FileNotFoundError:
        return
    if _read_entry(stale, key) is not None:
        with contextlib.suppress(OSError):
            os.rename(stale, final)
            return
    shutil.rmtree(stale, ignore_errors=True)


def cached_decode(paths: Sequence[Path], infos: Sequence[FileInfo], size: int, decode: Decoder,
                  desc: str = "decode") -> tuple[CacheEntry, bool]:
    """The entry for these files at `size`, and whether it had to be decoded now."""
    key = content_key(infos, size)
    entry = open_entry(key)
    if entry is not None:
        return entry, False
    return build_entry(key, paths, infos, size, decode, desc), True
