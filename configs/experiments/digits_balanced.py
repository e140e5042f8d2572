# The paper's Fig. 2 analogue: test accuracy per annotation step, balanced digits (initial 50, steps of 5).
_base_ = ['./_base_/digits_all_scorers.py']
experiment = dict(
    title='Accuracy curves, balanced digits (initial 50, steps of 5), every scorer',
    config='configs/digits/mlp_{scorer}_balanced.py')
