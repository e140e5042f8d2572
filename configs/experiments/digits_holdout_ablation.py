# Holdout-size ablation on the imbalanced pool: Ours and Ours-app with 2, 5, 10 and 20 holdout samples
# per class (the holdout is balanced; holdout_fraction is relative to the initial set of 100), next to
# Random and MC-Dropout, 10 seeds.
experiment = dict(
    title='Holdout size (2, 5, 10, 20 per class) on imbalanced digits: Ours and Ours-app',
    config='configs/digits/mlp_{scorer}_imbalanced.py',
    scorers=['random', 'mc-dropout', 'holdout-loss-change-approx', 'holdout-loss-change'],
    seeds=list(range(10)),
    cfg_options={'loop.progress': False},
    variants={'holdout 2 per class': {'protocol.holdout_fraction': 0.2},
              'holdout 5 per class': {'protocol.holdout_fraction': 0.5},
              'holdout 10 per class': {'protocol.holdout_fraction': 1.0},
              'holdout 20 per class': {'protocol.holdout_fraction': 2.0}},
)
