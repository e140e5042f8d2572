# Predictive entropy of the mean of T dropout passes.
scorer = dict(type='MCDropout', num_passes=20)
