# The paper's Fig. 3 analogue: test accuracy per annotation step, imbalanced digits (half of the classes at
# 1/10 of the others; initial 100, steps of 10).
_base_ = ['./_base_/digits_all_scorers.py']
experiment = dict(
    title='Accuracy curves, imbalanced digits (initial 100, steps of 10), every scorer',
    config='configs/digits/mlp_{scorer}_imbalanced.py')
# Ours and Ours-app also with the selection taken in rounds over the predicted classes (loop.selection),
# the variant aimed at imbalanced pools.
experiment.update(variants={
    '': {},
    'per predicted class': dict(cfg_options={'loop.selection': 'per_predicted_class'},
                                scorers=['holdout-loss-change-approx', 'holdout-loss-change', 'entropy'])})
