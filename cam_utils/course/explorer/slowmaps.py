"""Slow maps (Score-CAM) in the explorer: started, handed over, cancelled, waited for.

The part of :class:`~cam_utils.course.explorer.Explorer` that runs a slow map in a worker thread
(:class:`~.background.MapJob`) and keeps its result only while it is still wanted; a mixin, so that the
widget's file holds its controls and this file the life of a job.
"""

from __future__ import annotations

import threading
import time
from contextlib import AbstractContextManager

import ipywidgets as widgets

from . import rendering
from .background import MapJob, ProgressPanel
from .caches import MapCache, MapKey
from .methods import METHODS, compute_map

__all__ = ["SlowMaps"]


class SlowMaps:
    """Background jobs of the explorer; the explorer provides the attributes declared here."""

    _cache: MapCache
    _job: MapJob | None
    _lock: threading.RLock
    _last_shown_method: str
    method: widgets.ToggleButtons
    layer: widgets.SelectionSlider
    class_select: widgets.Dropdown
    status: widgets.HTML
    progress: ProgressPanel

    def _render(self) -> None:
        raise NotImplementedError

    def _changing_together(self) -> AbstractContextManager[None]:
        raise NotImplementedError

    @property
    def computing(self) -> bool:
        """True while a slow map (Score-CAM) is being computed in the background."""
        return self._job is not None

    def _start_job(self, key: MapKey) -> None:
        layer, method_name, class_idx = key
        request = self._cache.request(layer, class_idx)
        method = METHODS[method_name]
        self._job = MapJob(
            key,
            self._cache.x,
            lambda progress: compute_map(method, request, progress=progress)[0].detach(),  # (h, w)
            self.progress,
            self._job_done,
        )
        self._job.start()

    def _stop_job(self) -> None:
        if self._job is not None:
            self._job.cancel()
            self._job = None
            self.progress.hide()

    def _job_done(self, job: MapJob) -> None:
        """From the worker thread: keep the map if it is still wanted, and draw it."""
        with self._lock:
            if job is not self._job or job.cancelled:
                return  # a newer request or Cancel came first
            self._job = None
            self.progress.hide()
            if job.error is not None:
                self.status.value = rendering.status_html(f"{job.key[1]} failed: {job.error}", is_error=True)
                return
            if job.x is self._cache.x and job.result is not None:
                self._cache.keep(job.key, job.result)
            self._render()

    def cancel(self) -> None:
        """Stop the slow map being computed (the Cancel button) and go back to the method shown before it.

        Returns at once; the worker thread stops after its current batch and its work is discarded."""
        with self._lock:
            job = self._job
            if job is None:
                return
            self._stop_job()
            label = job.key[1]
            back = self._last_shown_method if self._last_shown_method in self.method.options else "Grad-CAM"
            if METHODS[back].slow and (self.layer.value, back, self.class_select.value) not in self._cache:
                back = "Grad-CAM"  # a map that is ready, not another long wait
            with self._changing_together():
                self.method.value = back
            self._render()
            done = f" after {job.done} of {job.total} channels" if job.total else ""
            message = f"{label} stopped{done}. Showing {back}; pick {label} again to start over."
            self.status.value = rendering.status_html(message)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the slow map being computed, if any, is drawn (or was stopped); True if none is left
        running after ``timeout`` seconds (None: no limit). For code and tests that drive the explorer."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while (job := self._job) is not None:  # a finished job may start another (the weights changed)
            if not job.wait(None if deadline is None else max(0.0, deadline - time.monotonic())):
                return False
            if job is self._job:  # ended without handing over (stopped meanwhile)
                break
        return self._job is None
