"""Silencing a library's expected warnings around one call, safely across threads.

``warnings.catch_warnings`` saves and restores the process-wide filter list, so two threads using it
at once can restore each other's state: a scikit-learn ``ConvergenceWarning`` silenced in the
proposals' thread could then escape in the advice's thread (and become an error where warnings are
errors). Every such block goes through :func:`quiet`, which holds one lock while it runs.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["quiet"]

_LOCK = threading.RLock()


@contextmanager
def quiet(*categories: type[Warning]) -> Iterator[None]:
    """Ignore warnings of ``categories`` inside the block (one block at a time across threads)."""
    with _LOCK, warnings.catch_warnings():
        for category in categories:
            warnings.simplefilter("ignore", category)
        yield
