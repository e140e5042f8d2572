# The paper's Fig. 3 analogue: test accuracy per annotation step, imbalanced digits (half of the classes at
# 1/10 of the others; initial 55 = 10 per majority class and 1 per minority class, steps of 10).
_base_ = ['./_base_/digits_all_scorers.py']
experiment = dict(
    confirm_seeds=list(range(30, 50)),  # a disjoint seed set: the page states only what holds on both
    title='Accuracy curves, imbalanced digits (initial 55, steps of 10), every scorer',
    config='configs/digits/mlp_{scorer}_imbalanced.py')
# The paper's own suggestions, measured in the same grid: the selection taken in rounds over the predicted
# classes (loop.selection, the variant aimed at imbalanced pools; Entropy too, to tell the rule's effect from the
# scorer's), and 20 pseudo-labels per step from the samples whose update lowers the holdout loss most (section 3).
_ours = ['holdout-loss-change-approx', 'holdout-loss-change']
experiment.update(variants={
    '': {},
    'per predicted class': dict(cfg_options={'loop.selection': 'per_predicted_class'}, scorers=_ours + ['entropy']),
    'pseudo-labels 20': dict(cfg_options={'loop.pseudo_labels': {'count': 20}}, scorers=_ours),
    'per predicted class + pseudo-labels 20': dict(
        cfg_options={'loop.selection': 'per_predicted_class', 'loop.pseudo_labels': {'count': 20}}, scorers=_ours)})
