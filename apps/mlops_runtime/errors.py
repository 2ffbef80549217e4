"""The one error the runtime helper raises."""

from __future__ import annotations


class RuntimeConfigError(RuntimeError):
    """The component cannot read what it needs; the message is one line naming the variable or
    file and the fix. Servers should stop on it before they open their port."""
