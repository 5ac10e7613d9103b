"""Atomic, durable file writes: a file is either its old self or completely the new one, never half written.

    from fastmlp._atomic import atomic_write

    with atomic_write("predictions.csv", "w", newline="", encoding="utf-8") as fh:
        fh.write(text)                     # an exception here leaves predictions.csv as it was

The data goes to a temporary file in the destination's directory (same file system, so the final rename is
atomic), which is flushed and fsynced, given the permissions that ``open(path, "w")`` would have given
(those of the file it replaces, else 0o666 minus the umask: ``mkstemp`` creates 0o600), and renamed over
the destination with ``os.replace``; the directory is then fsynced (POSIX) so that the rename itself
survives a crash. On any exception, KeyboardInterrupt included, the temporary file is removed and the
destination is not touched.

``atomic_path`` is the same for a writer that insists on opening the file itself (it gets the temporary
path), and ``replace_durably`` the last step alone, for a file already written elsewhere in the directory.
A destination that is a symbolic link is written through: its target is replaced, the link stays.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import IO, Any, BinaryIO, Literal, TextIO, overload

__all__ = ["atomic_write", "atomic_path", "replace_durably"]

_MODES = ("w", "wt", "wb")


def _umask() -> int:
    """The process umask, read without changing it where the system says it (Linux); else set and reset."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # no getter in the os module: set anything, read the old value, put it back
    os.umask(mask)
    return mask


def _new_file_mode(dest: str) -> int:
    """The permission bits ``open(dest, "w")`` leaves: those of an existing file, else 0o666 & ~umask."""
    try:
        return os.stat(dest).st_mode & 0o777
    except OSError:
        return 0o666 & ~_umask()


def _target(path: str | os.PathLike[str]) -> str:
    """The file a write to ``path`` lands in: symbolic links resolved, as ``open`` follows them."""
    return os.path.realpath(os.fspath(path))


def _fsync_dir(directory: str) -> None:
    """Make a rename in ``directory`` durable (POSIX; file systems that refuse are left alone)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_file(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))
    except PermissionError:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_durably(src: str | os.PathLike[str], dst: str | os.PathLike[str], *, fsync: bool = True) -> None:
    """Move the finished file ``src`` over ``dst`` in one atomic step.

    ``src`` must be in the directory of ``dst`` (after following a symbolic link at ``dst``). It is fsynced
    (unless ``fsync=False``: the caller already did), given the permission bits ``open(dst, "w")`` would
    leave, renamed over ``dst`` with ``os.replace``, and the directory is fsynced.
    """
    src, dest = os.fspath(src), _target(dst)
    if fsync:
        _fsync_file(src)
    os.chmod(src, _new_file_mode(dest))
    os.replace(src, dest)
    _fsync_dir(os.path.dirname(dest))


def _mkstemp_beside(dest: str) -> tuple[int, str]:
    directory, name = os.path.split(dest)
    return tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory or ".")


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


@overload
def atomic_write(path: str | os.PathLike[str], mode: Literal["wb"] = ..., *, encoding: None = ...,
                 newline: None = ...) -> AbstractContextManager[BinaryIO]: ...


@overload
def atomic_write(path: str | os.PathLike[str], mode: Literal["w", "wt"], *, encoding: str | None = ...,
                 newline: str | None = ...) -> AbstractContextManager[TextIO]: ...


@contextmanager  # type: ignore[misc]  # (the overloads above give the handle's type per mode)
def atomic_write(path: str | os.PathLike[str], mode: str = "wb", *, encoding: str | None = None,
                 newline: str | None = None) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` for writing; on a clean exit it replaces ``path`` atomically.

    ``mode`` is ``"wb"`` (bytes, the default) or ``"w"``/``"wt"`` (text, with ``encoding`` and ``newline``
    as for ``open``). The handle is flushed, fsynced and closed at the end of the block, then renamed over
    ``path`` (see ``replace_durably``). If the block raises, the temporary file is deleted, ``path`` is left
    byte-identical (or absent, if it was), and the exception propagates. Closing the handle inside the
    block is allowed.
    """
    if mode not in _MODES:
        raise ValueError(f"mode: expected one of {', '.join(_MODES)}, got {mode!r}")
    if mode == "wb" and (encoding is not None or newline is not None):
        raise ValueError("encoding/newline: apply to text modes ('w'), not to 'wb'")
    dest = _target(path)
    fd, tmp = _mkstemp_beside(dest)
    try:
        fh = os.fdopen(fd, mode, encoding=encoding, newline=newline) if mode != "wb" else os.fdopen(fd, mode)
    except BaseException:
        os.close(fd)
        _remove(tmp)
        raise
    try:
        with fh:
            yield fh
            if not fh.closed:
                fh.flush()
                os.fsync(fh.fileno())
                synced = True
            else:
                synced = False
        replace_durably(tmp, dest, fsync=not synced)
    except BaseException:
        _remove(tmp)
        raise


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[str]:
    """A temporary path beside ``path`` for a writer that opens the file itself (``savefig(name)``,
    ``numpy.save(name)``); on a clean exit that file replaces ``path`` as in ``atomic_write``.

    The temporary file exists (empty) when the block starts; the writer may truncate or recreate it. If the
    block raises, or leaves no file there, nothing is replaced and the temporary file is deleted.
    """
    dest = _target(path)
    fd, tmp = _mkstemp_beside(dest)
    os.close(fd)
    try:
        yield tmp
        if not os.path.isfile(tmp):
            raise FileNotFoundError(f"path: nothing was written to the temporary file for {dest}")
        replace_durably(tmp, dest)
    except BaseException:
        _remove(tmp)
        raise
