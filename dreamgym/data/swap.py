"""Replace a data folder by a new one so that a crash at any point leaves a state `recover()` can repair.

`swap_in(src, target)` moves the complete new folder next to `target`, then swaps the two by rename(2) (atomic on
one file system) and deletes the old one last. The names of the folders on disk say how far it got:

| left on disk (besides `target`)            | how far it got                            | `recover(target)`            |
|--------------------------------------------|-------------------------------------------|------------------------------|
| `<target>.tmp-<id>`                        | the new folder was still being moved in   | deletes it                   |
| `<target>.new-<id>`, `target` present      | new folder complete, old one still live   | deletes the new one          |
| `<target>.new-<id>` + `<target>.old-<id>`, no `target` | between the two renames       | restores the old, deletes the new |
| `<target>.old-<id>` only                   | swapped; the backup not yet deleted       | deletes the backup           |

So until the new folder has been renamed to `target` a crash rolls back to the old folder (which is what
`data.dvc` still records), and after it the swap is complete. Call `recover()` before anything reads
`target`. One writer at a time: the swap takes no lock.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

# crash points of swap_in, in order; the hook is called with each name right after that step is on disk
POINTS = ("moved", "staged", "backed_up", "swapped", "done")


def _leftover(target: Path, kind: str) -> dict[str, Path]:
    prefix = f"{target.name}.{kind}-"
    if not target.parent.is_dir():
        return {}
    return {p.name.removeprefix(prefix): p for p in sorted(target.parent.iterdir()) if p.name.startswith(prefix)}


def leftovers(target: str | Path) -> list[Path]:
    """The staging / backup folders an interrupted swap of `target` left (empty when there is nothing to recover)."""
    target = Path(target)
    return sorted(p for kind in ("tmp", "new", "old") for p in _leftover(target, kind).values())


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def swap_in(src: str | Path, target: str | Path, hook: Callable[[str], None] | None = None) -> None:
    """Make the complete folder `src` the new `target` (src is moved, not copied, where the file system allows).

    Steps: src -> `<target>.tmp-<id>` -> `<target>.new-<id>` (complete); target -> `<target>.old-<id>`;
    new -> target; delete old. `hook(point)` is called after each step (see POINTS), for crash-injection tests.
    Leftovers of an earlier interrupted swap are recovered first."""
    src, target = Path(src), Path(target)
    if not src.is_dir():
        raise FileNotFoundError(f"swap source '{src}' is not a folder")
    recover(target)
    hook = hook or (lambda point: None)
    sid = uuid.uuid4().hex[:12]
    tmp, new, old = (target.with_name(f"{target.name}.{k}-{sid}") for k in ("tmp", "new", "old"))
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(src), str(tmp))  # a rename on one file system, else a copy (a partial tmp is deleted on recovery)
    hook("moved")
    os.rename(tmp, new)  # from here on the new folder is known complete
    _fsync_dir(target.parent)
    hook("staged")
    had_old = target.exists()
    if had_old:
        os.rename(target, old)
        _fsync_dir(target.parent)
    hook("backed_up")
    os.rename(new, target)  # the commit point
    _fsync_dir(target.parent)
    hook("swapped")
    if had_old:
        _remove(old)
    hook("done")


def recover(target: str | Path) -> list[str]:
    """Repair `target` after a swap_in that was interrupted (see the table above); returns what it did, one line
    per action (empty when there was nothing to do)."""
    target = Path(target)
    done: list[str] = []
    for tmp in _leftover(target, "tmp").values():
        _remove(tmp)
        done.append(f"removed the incomplete staging folder {tmp.name}")
    news, olds = _leftover(target, "new"), _leftover(target, "old")
    for sid in sorted(set(news) | set(olds)):
        new, old = news.get(sid), olds.get(sid)
        if old is not None and not target.exists():
            os.rename(old, target)
            _fsync_dir(target.parent)
            done.append(f"restored {target.name}/ from {old.name} (the swap had not completed)")
            old = None
        if new is not None:
            _remove(new)
            done.append(f"removed {new.name} (a new {target.name}/ that was never swapped in)")
        if old is not None:
            _remove(old)
            done.append(f"removed the backup {old.name} (the swap had completed)")
    return done
