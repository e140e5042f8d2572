"""Experiment grids: many runs declared in one file, run in worker processes, reported as results pages."""
