# Ours and Ours-app next to Random and MC-Dropout on imbalanced digits, 30 seeds; a leaf experiment adds its
# variants and its title.
experiment = dict(
    config='configs/digits/mlp_{scorer}_imbalanced.py',
    scorers=['random', 'mc-dropout', 'holdout-loss-change-approx', 'holdout-loss-change'],
    seeds=list(range(30)),
    cfg_options={'loop.progress': False},
)
