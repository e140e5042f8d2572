"""Small helpers shared across segal, one module each: ``io`` (atomic file writes), ``device``, ``seeding``,
``precision`` (float32 settings), ``logs`` (console and log file) and ``progress``.

Import from the module itself (``from segal.utils.io import atomic_write_text``): this package imports
nothing on its own, so light callers such as the command-line parsers do not pay for torch.
"""
