"""What the machine training runs on can do, for choices that depend on it (--precision=auto)."""

from __future__ import annotations

import functools

import tensorflow as tf


@functools.lru_cache(maxsize=None)  # the machine does not change within a process
def bf16_is_native() -> bool:
    """Whether the device training runs on computes bfloat16 natively: a GPU of compute
    capability 8.0 or later (Ampere on), else a CPU with AVX-512 BF16 or AMX (Linux's flags)."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        return tuple(details.get("compute_capability", (0, 0))) >= (8, 0)
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((l for l in f if l.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags
