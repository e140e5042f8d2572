# Mutual information between prediction and weights from T dropout passes.
scorer = dict(type='BALD', num_passes=20)
