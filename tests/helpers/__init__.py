"""Helpers shared by the tests: data in real on-disk formats, small scoring setups, running the tools."""
