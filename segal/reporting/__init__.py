"""Tables and plots of finished runs and checkpoints. Computing never prints; reporting never computes metrics."""
