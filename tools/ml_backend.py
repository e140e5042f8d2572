"""``python tools/ml_backend.py ...`` runs ``segal-ml-backend``; its usage and code are in
segal/commands/ml_backend.py."""
import os
import sys

# Run as a script, this folder leads sys.path, and tools/select.py would shadow the standard `select` module
# (which subprocess and the data loaders import): drop it before anything else is imported.
if sys.path and os.path.realpath(sys.path[0]) == os.path.dirname(os.path.realpath(__file__)):
    del sys.path[0]

from segal.commands.ml_backend import build_parser, main  # noqa: E402,F401  (build_parser: for the --help tests)

if __name__ == "__main__":
    main()
