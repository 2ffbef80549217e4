"""Whether a process still runs: what a stale lock, build folder or state file is told by."""

from __future__ import annotations

import os
from typing import Any


def alive(pid: Any) -> bool:
    """True while process `pid` exists (also when it is another user's: signalling it is refused)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
