"""The command-line tools (``segal-train``, ... and ``tools/*.py``): each parses its arguments, then imports the
rest of segal, so that ``--help`` answers at once."""
