"""Small helpers shared across segal: atomic file writes, devices, seeds, float32 precision."""
from .device import resolve_device
from .io import atomic_save_torch, atomic_write_text, read_json
from .precision import no_tf32
from .seeding import derive_seed

__all__ = ["atomic_save_torch", "atomic_write_text", "derive_seed", "no_tf32", "read_json", "resolve_device"]
