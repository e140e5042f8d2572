"""Small helpers shared across segal: atomic file writes, devices, seeds."""
from .device import resolve_device
from .io import atomic_save_torch, atomic_write_text, read_json
from .seeding import derive_seed

__all__ = ["atomic_save_torch", "atomic_write_text", "derive_seed", "read_json", "resolve_device"]
