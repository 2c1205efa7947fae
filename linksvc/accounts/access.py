"""Who may reach which file: grants over the protected tree; no Flask.

Every view, command and API call asks here, so a grant means the same
everywhere, and a symlink is judged by the grants of where it leads.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..core.errors import LinksvcError
from ..core.errors import NotGranted
from ..db.users import User
from ..files.tree import covers
from ..files.tree import Entry
from ..files.tree import leads_to_grant
from ..files.tree import OpenFile
from ..services import Services


def granted_file(
    svc: Services, user: User, path: str
) -> tuple[str, Path, os.stat_result]:
    """The file at ``path`` if ``user``'s grants cover both the path and what
    it resolves to, as tree.file gives it but named by its real path under the
    tree. The grant is checked first, so a file outside the grants is refused
    whether or not it exists."""
    clean = svc.tree.clean(path)
    grants = user.effective_grants
    if not covers(grants, clean):
        raise NotGranted(f"You have no access to {clean!r}.")
    _, real, st = svc.tree.file(clean)
    target = svc.tree.relative(real)
    if not covers(grants, target):
        raise NotGranted(f"You have no access to {clean!r}.")
    return target, real, st


def granted_open(svc: Services, user: User, path: str) -> OpenFile:
    """The file at ``path``, open, on the terms of :func:`granted_file`: what
    is sent is the file that was checked (no name opened again)."""
    clean = svc.tree.clean(path)
    grants = user.effective_grants
    if not covers(grants, clean):
        raise NotGranted(f"You have no access to {clean!r}.")
    opened = svc.tree.open(clean)
    if not covers(grants, svc.tree.relative(opened.real)):
        opened.close()
        raise NotGranted(f"You have no access to {clean!r}.")
    return opened


def granted_folder(svc: Services, user: User, path: str) -> tuple[str, Path]:
    """The folder at ``path`` (named by its real path under the tree) if
    ``user``'s grants cover the path and where it leads; NotGranted else."""
    clean = svc.tree.clean(path)
    grants = user.effective_grants
    if not covers(grants, clean):
        raise NotGranted(f"You have no access to {clean!r}.")
    _, real = svc.tree.folder(clean)
    target = svc.tree.relative(real)
    if not covers(grants, target):
        raise NotGranted(f"You have no access to {clean!r}.")
    return target, real


def is_folder(svc: Services, path: str) -> bool:
    """Whether ``path`` names a folder of the tree (after symlinks)."""
    try:
        svc.tree.folder(path)
    except LinksvcError:
        return False
    return True


def browse(svc: Services, user: User, folder: str) -> tuple[str, list[Entry]]:
    """A folder's clean path and what ``user`` may see in it: a folder their
    grants cover, or one on the way to a grant (judged by where it really
    leads, too); NotGranted else."""
    clean, real = svc.tree.resolve(folder)
    grants = user.effective_grants
    for name in {clean, svc.tree.relative(real)}:
        if not (covers(grants, name) or leads_to_grant(grants, name)):
            raise NotGranted(f"You have no access to {clean!r}.")
    return clean, svc.tree.listing(clean, grants)
