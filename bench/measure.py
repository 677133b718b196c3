"""What the benchmarks measure besides seconds: the peak resident memory of a process tree."""

from __future__ import annotations

import threading
import time

import psutil


class PeakRss:
    """Peak resident memory of this process and all its children (a JVM is one), sampled.

    `take()` returns the peak since the previous take (or the start) and starts a new window, so
    one sampler can attribute peaks to the stages of a run that prints where each stage ends."""

    def __init__(self, every_s: float = 0.1):
        self.every_s, self.peak, self._stop = every_s, 0, threading.Event()
        self._lock = threading.Lock()

    def _sample(self) -> int:
        me = psutil.Process()
        total = me.memory_info().rss
        for child in me.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                pass
        return total

    def _run(self):
        while not self._stop.is_set():
            sample = self._sample()
            with self._lock:
                self.peak, self.overall = max(self.peak, sample), max(self.overall, sample)
            time.sleep(self.every_s)

    def take(self) -> int:
        with self._lock:
            peak, self.peak = self.peak, 0
        return peak

    def __enter__(self):
        self.peak = self.overall = self._sample()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
