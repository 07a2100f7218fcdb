"""Files commands write for people: exports holding personal data, readable by their owner
alone, never written over, and there in full or not at all."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from regiocrm.platform.i18n import _

# Owner read and write: the file is created so, not narrowed after writing, so no other
# user of the machine can open it in between.
PRIVATE = 0o600


class UnwritableFile(Exception):
    """A new file that cannot be created; nothing was written."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(_("cannot write {path}: {reason}").format(path=path, reason=reason))


def _create_private(path: Path) -> IO[str]:
    """A new UTF-8 text file at ``path``, open for writing, that only its owner may read.

    :raises UnwritableFile: for a file that exists, a folder that does not, or one the
        process may not write in, naming the path and the reason.
    """
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE)
    except OSError as exc:
        raise UnwritableFile(path, _reason(path, exc)) from None
    return os.fdopen(descriptor, "w", encoding="utf-8", newline="")


@contextmanager
def private_file(path: Path) -> Iterator[IO[str]]:
    """A new UTF-8 text file at ``path`` that only its owner may read, written in full or
    not at all: the block writes a pending file beside it, which takes the name once the
    block ends without an error (and unless a file of that name appeared meanwhile), and
    is removed otherwise.

    :raises UnwritableFile: naming ``path``, before the block runs when the file cannot
        be made, after it when the name was taken meanwhile.
    """
    if path.exists():
        raise UnwritableFile(path, _("it exists already"))
    pending = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        stream = _create_private(pending)
    except UnwritableFile as exc:
        raise UnwritableFile(path, exc.reason) from None
    try:
        with stream:
            yield stream
        try:
            # A link, unlike a rename, never replaces a file that took the name meanwhile.
            os.link(pending, path)
        except OSError as exc:
            raise UnwritableFile(path, _reason(path, exc)) from None
    finally:
        pending.unlink(missing_ok=True)


def _reason(path: Path, exc: OSError) -> str:
    if isinstance(exc, FileExistsError):
        return _("it exists already")
    if not path.parent.exists():
        return _("the folder {folder} does not exist").format(folder=path.parent)
    if not path.parent.is_dir():
        return _("{folder} is not a folder").format(folder=path.parent)
    return exc.strerror or type(exc).__name__
