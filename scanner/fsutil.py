"""Everything written to disk goes through here: temp file (or folder) + rename."""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


def _read_umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


_UMASK = _read_umask()  # read once: os.umask can only be read by setting it


def _default_mode(base: int) -> int:
    """The permissions a plain open()/mkdir() would give under the process umask."""
    return base & ~_UMASK


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "w", **kwargs) -> Iterator[IO]:
    """Open a temp file beside ``path``; rename it over ``path`` only if the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.fchmod(fd, _default_mode(0o666))  # mkstemp's 0600 would make reports unreadable to others
    if "b" not in mode:
        kwargs.setdefault("encoding", "utf-8")
        kwargs.setdefault("newline", "")
    try:
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_file(path) as fh:
        fh.write(text)


_RENAME_EXCHANGE = 2  # linux/fs.h


def _exchange(a: Path, b: Path) -> bool:
    """Swap two directories in one step (Linux renameat2 RENAME_EXCHANGE); False where the
    kernel, the file system or the platform cannot."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _remove_stale(target: Path) -> None:
    """Temp folders of earlier runs for ``target`` whose process is gone (killed mid-way)."""
    for stale in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
        pid = stale.name[len(target.name) + 2:].partition(".")[0]
        if pid.isdigit() and not _running(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Build a directory under a temp name; it appears at ``path`` only when complete.

    An existing directory at ``path`` is swapped with the new one in one rename-exchange,
    so at every instant ``path`` holds either the old or the new directory, whole; the old
    one then sits in the temp folder and is removed. (Where the exchange is unavailable —
    not Linux, or a file system without it — two renames are the fallback, with a short
    window in which ``path`` is missing.) Temp folders are named ``.<name>.<pid>.XXXX.tmp``;
    one whose process is gone (a killed run) is removed by the next run.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=target.parent))
    tmp.chmod(_default_mode(0o777))
    try:
        yield tmp
        if not target.exists():
            os.replace(tmp, target)
        elif not _exchange(tmp, target):
            old = tmp.with_name(tmp.name[:-len(".tmp")] + ".old.tmp")
            os.replace(target, old)
            os.replace(tmp, target)
            tmp = old
        shutil.rmtree(tmp, ignore_errors=True)  # the old directory, after the swap
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
