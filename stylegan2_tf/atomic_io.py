"""Atomic writes, the only place the package publishes files: write a temporary file (or directory) next to the
target, fsync, then rename it to the target.

A reader (a user, TF Serving polling a directory, a resumed run) sees either the old file or the complete new one,
never a partial write; a failed or interrupted write leaves nothing under the target name.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from typing import Callable, IO, Iterator, Optional


def atomic_write(path: str, write_fn: Callable[[IO], None], mode: str = "wb", file_mode: Optional[int] = None) -> None:
    """Calls write_fn(f) on a temporary file next to `path`, then renames it to `path`.

    file_mode: permissions of the result (mkstemp creates 0600 files), e.g. 0o644 for files a server reads.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-" + os.path.basename(path) + "-", dir=directory)
    try:
        with os.fdopen(fd, mode) as f:
            write_fn(f)
            f.flush()
            if file_mode is not None:
                os.fchmod(f.fileno(), file_mode)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def atomic_write_bytes(path: str, data: bytes, file_mode: Optional[int] = None) -> None:
    atomic_write(path, lambda f: f.write(data), file_mode=file_mode)


def atomic_write_text(path: str, text: str, file_mode: Optional[int] = None) -> None:
    atomic_write(path, lambda f: f.write(text), mode="w", file_mode=file_mode)


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(path: str) -> None:
    """Flushes every file and directory under path to disk, so that a rename publishes complete data."""
    for root, _, files in os.walk(path):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                os.fsync(f.fileno())
        _fsync_dir(root)


@contextlib.contextmanager
def atomic_directory(path: str, replace: bool = False, mode: Optional[int] = None) -> Iterator[str]:
    """Yields a hidden temporary directory `.tmp-<name>-XXXX` next to `path` to fill; on success its tree is fsynced
    and it is renamed to `path` in one step (a reader polling the parent sees all of it or none of it).

    replace: an existing `path` is moved aside, the new directory renamed in, the old one deleted; without it an
    existing `path` raises FileExistsError. mode: permissions of the directory (mkdtemp makes 0700); default
    0o777 minus the umask, as os.mkdir would. On any error the temporary directory is removed; a killed process
    leaves only the hidden temporary directory behind.
    """
    path = os.path.abspath(os.fspath(path))
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    if mode is None:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o777 & ~umask
    tmp = tempfile.mkdtemp(prefix=".tmp-" + os.path.basename(path) + "-", dir=parent)
    try:
        os.chmod(tmp, mode)
        yield tmp
        fsync_tree(tmp)
        if os.path.exists(path):
            if not replace:
                raise FileExistsError(f"{path} already exists (it appeared while writing); not overwriting it")
            old = tmp + ".old"
            os.rename(path, old)
            try:
                os.rename(tmp, path)
            except BaseException:
                os.rename(old, path)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, path)
        _fsync_dir(parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
