"""Files commands write for people: exports holding personal data, readable by their owner
alone and never written over."""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

from regiocrm.i18n import _

# Owner read and write: the file is created so, not narrowed after writing, so no other
# user of the machine can open it in between.
PRIVATE = 0o600


class UnwritableFile(Exception):
    """A new file that cannot be created; nothing was written."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(_("cannot write {path}: {reason}").format(path=path, reason=reason))


def create_private(path: Path) -> IO[str]:
    """A new UTF-8 text file at ``path``, open for writing, that only its owner may read.

    :raises UnwritableFile: for a file that exists, a folder that does not, or one the
        process may not write in, naming the path and the reason.
    """
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE)
    except OSError as exc:
        raise UnwritableFile(path, _reason(path, exc)) from None
    return os.fdopen(descriptor, "w", encoding="utf-8", newline="")


def _reason(path: Path, exc: OSError) -> str:
    if isinstance(exc, FileExistsError):
        return _("it exists already")
    if not path.parent.exists():
        return _("the folder {folder} does not exist").format(folder=path.parent)
    if not path.parent.is_dir():
        return _("{folder} is not a folder").format(folder=path.parent)
    return exc.strerror or type(exc).__name__
