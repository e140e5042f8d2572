# The paper's Fig. 2 analogue: test accuracy per annotation step, balanced digits (initial 50, steps of 5).
_base_ = ['./_base_/digits_all_scorers.py']
experiment = dict(
    confirm_seeds=list(range(30, 50)),  # a disjoint seed set: the page states only what holds on both
    title='Accuracy curves, balanced digits (initial 50, steps of 5), every scorer',
    config='configs/digits/mlp_{scorer}_balanced.py')
