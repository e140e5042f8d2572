"""Training stages, inference and the active-learning loop."""
