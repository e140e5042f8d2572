"""One call under torch.profiler: its costliest operators as a table, and how much of its wall time the GPU was busy.

Used by bench_loop.py (``--profile``) to explain a ratio that misses its target, in the same run that measured it.
"""
import time
from pathlib import Path

import torch
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def device_busy_seconds(prof) -> float:
    """Seconds of device kernels and copies the profile recorded (0 on CPU), summed as the profiler's own table sums."""
    return sum(event.self_device_time_total for event in prof.events()
               if event.device_type == DeviceType.CUDA and not event.is_user_annotation) / 1e6


def profile_call(function, device: torch.device, path: Path, title: str, rows: int = 25) -> dict:
    """Runs ``function()`` once under the profiler and writes ``path``: the title, wall and device-busy seconds, and
    the top ``rows`` operators by self time on the device (CUDA) or on the CPU.

    Returns:
        ``{"wall_seconds", "device_busy_seconds", "device_busy_share", "table"}``; the share of wall time the device
        computed tells host-side overhead (data waits, launches, Python) from device work.
    """
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    _synchronize(device)
    started = time.perf_counter()
    with profile(activities=activities) as prof:
        function()
        _synchronize(device)
    wall = time.perf_counter() - started
    busy = device_busy_seconds(prof)
    sort_by = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    table = prof.key_averages().table(sort_by=sort_by, row_limit=rows)
    share = busy / wall if device.type == "cuda" else None
    busy_line = f", device busy {busy:.3f}s ({share:.0%} of wall)" if share is not None else ""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{title}\nwall {wall:.3f}s (under the profiler){busy_line}\n"
                    f"top {rows} operators by {sort_by}\n\n{table}\n")
    return {"wall_seconds": wall, "device_busy_seconds": busy, "device_busy_share": share, "table": str(path)}
