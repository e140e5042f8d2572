# Holdout-size ablation on the imbalanced pool: Ours and Ours-app with a balanced holdout of 2, 5, 10, 20 and
# 50 samples per class (the configs' default is 1 per class: a fifth of the balanced initial size of 50), next to
# Random and MC-Dropout, 30 seeds (600 runs). A larger holdout leaves fewer samples of each majority class
# for the pool.
_base_ = ['./_base_/digits_imbalanced_ours_vs_references.py']
experiment = dict(
    title='Holdout size (2, 5, 10, 20, 50 per class) on imbalanced digits: Ours and Ours-app',
    seeds=list(range(30)),
    variants={f'holdout {n} per class': {'protocol.holdout_per_class': n} for n in (2, 5, 10, 20, 50)})
