"""Slow maps (Score-CAM) off the widget's event handler: a worker thread, a progress bar and a Cancel button.

A click on Score-CAM starts a :class:`MapJob`: the map is computed in a thread of its own, which reports
the channels done to a :class:`ProgressPanel` (ipywidgets' ``IntProgress``, "512 of 1280 channels, about
30 s left", and a Cancel button). The event handler returns at once, so every other control keeps
answering meanwhile (the model's lock is taken one batch at a time: a Grad-CAM waits for one batch at most,
not for the whole run). When the thread is done it hands the map to the explorer, which keeps it only if
it is still wanted: a newer request (another method, layer, class or image) or Cancel stops the job and
discards what it computed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import ipywidgets as widgets
import torch

from cam_utils.errors import ComputationCancelledError
from cam_utils.scorecam import ProgressCallback

__all__ = ["MapJob", "ProgressPanel"]

#: (layer, method label, class): what a job computes, the key of the explorer's map cache.
MapKey = tuple[str, str, int]


def _duration(seconds: float) -> str:
    """``42 s`` or ``2 min 05 s``."""
    seconds = max(0, round(seconds))
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60:02d} s"


class ProgressPanel(widgets.HBox):
    """A progress bar (``IntProgress``: channels done of the total), its text and a Cancel button.

    Hidden while nothing runs. :meth:`report` may be called from the worker thread.
    """

    def __init__(self) -> None:
        self.bar = widgets.IntProgress(value=0, min=0, max=1, layout=widgets.Layout(width="240px"))
        self.text = widgets.Label()
        self.cancel_button = widgets.Button(
            description="Cancel", icon="stop", button_style="warning", tooltip="Stop computing this map"
        )
        super().__init__(
            [self.bar, self.text, self.cancel_button],
            layout=widgets.Layout(display="none", align_items="center", flex_flow="row wrap"),
        )
        self.add_class("cam-explorer-progress")
        self._started = time.perf_counter()

    @property
    def visible(self) -> bool:
        """True while a computation is shown."""
        return bool(self.layout.display != "none")

    def show(self, label: str) -> None:
        """A new computation of ``label`` starts: an empty bar, visible at once."""
        self._label, self._started = label, time.perf_counter()
        self.bar.value, self.bar.max = 0, 1
        self.text.value = f"{label}: starting…"
        self.layout.display = "flex"

    def report(self, done: int, total: int) -> None:
        """``done`` of ``total`` channels; the time left is extrapolated from the time so far."""
        self.bar.max = max(total, 1)
        self.bar.value = done
        if done == 0:
            self.text.value = f"{self._label}: 0 of {total} channels, estimating the time left…"
        else:
            left = (time.perf_counter() - self._started) / done * (total - done)
            self.text.value = f"{self._label}: {done} of {total} channels, about {_duration(left)} left"

    def hide(self) -> None:
        """Nothing runs any more."""
        self.layout.display = "none"


class MapJob:
    """One map computed in a daemon thread: ``compute(progress)`` with a progress function that reports to
    ``panel`` and stops the computation once :meth:`cancel` was called.

    When ``compute`` returns (or fails) and the job was not cancelled, ``on_done(job)`` is called from the
    worker thread; ``result`` holds the map, ``error`` the exception if it failed. A cancelled job calls
    nothing and keeps nothing.
    """

    def __init__(
        self,
        key: MapKey,
        x: torch.Tensor,
        compute: Callable[[ProgressCallback], torch.Tensor],
        panel: ProgressPanel,
        on_done: Callable[[MapJob], None],
    ) -> None:
        self.key, self.x = key, x  # what it computes, for which input (the explorer checks both)
        self.result: torch.Tensor | None = None
        self.error: Exception | None = None
        self.done, self.total = 0, 0  # channels, as last reported
        self._compute, self._panel, self._on_done = compute, panel, on_done
        self._cancelled = threading.Event()
        self._thread = threading.Thread(target=self._work, name=f"cam-explorer {key[1]} {key[0]}", daemon=True)

    @property
    def cancelled(self) -> bool:
        """True once :meth:`cancel` was called."""
        return self._cancelled.is_set()

    def start(self) -> None:
        """Show the empty bar and start the thread."""
        self._panel.show(self.key[1])
        self._thread.start()

    def cancel(self) -> None:
        """Ask the computation to stop after its current batch and discard it; returns at once."""
        self._cancelled.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the thread has ended (its result handed over or discarded); True if it has."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _progress(self, done: int, total: int) -> bool:
        if self.cancelled:
            return False
        self.done, self.total = done, total
        self._panel.report(done, total)
        return True

    def _work(self) -> None:
        try:
            self.result = self._compute(self._progress)
        except ComputationCancelledError:
            return
        except Exception as error:  # noqa: BLE001 - shown in the explorer's status line, not lost in a thread
            self.error = error
        if not self.cancelled:
            self._on_done(self)
