"""Progress of long calls: a tqdm bar when tqdm is installed (in a notebook, its widget),
else log lines through :mod:`logging` (logger ``genood``)."""

from __future__ import annotations

import importlib
import logging
from typing import Any, Callable, Optional, Union

logger = logging.getLogger("genood")

#: What the library calls with each event: ``(event, *values)``.
Callback = Callable[..., None]

#: ``True`` (a bar or log lines), ``False`` (silent), or a callable taking the events.
ProgressArg = Union[bool, Callback]


class _Reporter:
    """Draws the library's events: ``advance(task, done, total)``, ``training(label)``,
    ``started(first, total)``, ``step(step, bpd, images_per_sec)`` and ``note(line)``."""

    def __init__(self) -> None:
        self._bar: Any = None
        self._task = ""
        try:
            self._tqdm: Any = importlib.import_module("tqdm.auto").tqdm
        except ImportError:
            self._tqdm = None

    def __call__(self, event: str, *values: Any) -> None:
        if event == "advance":
            task, done, total = values
            self._progress(task, done, total)
        elif event == "training":
            self._close()
            self._task = str(values[0])
        elif event == "started":
            first, total = values
            self._progress(self._task or "train", first, total)
        elif event == "step":
            step, bpd, speed = values
            self._progress(self._task or "train", step, None)
            if self._bar is not None:
                self._bar.set_postfix(bpd=f"{bpd:.3f}", img_s=f"{speed:.0f}", refresh=False)
        elif event == "note":
            self._close()
            logger.info("%s", values[0])

    def _progress(self, task: str, done: int, total: Optional[int]) -> None:
        if self._tqdm is None:
            if total is not None and (done == 0 or done == total):
                logger.info("%s: %d of %d", task, done, total)
            return
        if self._bar is None or self._bar.desc != task:
            self._close()
            self._bar = self._tqdm(total=total, desc=task, leave=False)
        if total is not None and self._bar.total != total:
            self._bar.total = total
        self._bar.n = done
        self._bar.refresh()

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __del__(self) -> None:
        self._close()


def callback(progress: ProgressArg) -> Optional[Callback]:
    """The callable the library reports to for ``progress``."""
    if progress is True:
        return _Reporter()
    if progress is False:
        return None
    return progress
