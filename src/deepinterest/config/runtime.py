"""Runtime settings every stage resolves the same way: the torch device, CPU threads and peak memory."""

from __future__ import annotations

import os
import resource
import sys
import time
import warnings

import torch


class OversubscribedWarning(RuntimeWarning):
    """More busy threads than cores: on CPU each thread then waits for the others (measured 3-5x slower)."""


def resolve_device(name: str) -> torch.device:
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def peak_memory_mb() -> float:
    """Peak resident memory of this process (MiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024, 1)


def use_threads(threads: int | None, setting: str, *, others: float | None = None, cores: int | None = None) -> int:
    """Sets torch's CPU threads (when `threads` is given) and warns when they and the threads other processes
    keep busy right now exceed the cores: a Sports SASRec epoch took 465 s at 2 threads beside a 1-thread job
    on 2 cores, 81 s at 1 thread with the same neighbour. `setting` names the option to lower."""
    if threads:
        torch.set_num_threads(threads)
    ours = torch.get_num_threads()
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    others = busy_elsewhere() if others is None else others
    if ours > 1 and others >= 1 and ours + others > cores:
        fit = max(1, int(cores - others))
        warnings.warn(f"{ours} torch threads, and other processes keep about {others:.0f} of the {cores} cores busy: "
                      f"oversubscribed threads run 3-5x slower; try --set {setting}={fit}", OversubscribedWarning, stacklevel=2)
    return ours


def busy_elsewhere(samples: int = 5, pause: float = 0.02) -> float:
    """Threads of other processes runnable now (Linux's /proc, averaged over a few samples); 0 elsewhere.
    This process's own threads are left out: torch's worker threads spin for a while after a stage ends."""
    counts = []
    for _ in range(samples):
        try:
            with open("/proc/loadavg") as f:
                running = int(f.read().split()[3].split("/")[0])
            counts.append(running - _own_running_threads())
        except (OSError, ValueError, IndexError):
            return 0.0
        time.sleep(pause)
    return max(0.0, sum(counts) / len(counts))


def _own_running_threads() -> int:
    running = 0
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/stat") as f:
                running += f.read().rsplit(")", 1)[1].split()[0] == "R"
        except OSError:  # the thread ended meanwhile
            continue
    return running
