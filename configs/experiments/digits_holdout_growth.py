# A growing holdout (section 3: the holdout "can be augmented as new labels are obtained") on imbalanced
# digits: 20% or 50% of each step's new labels join the holdout instead of the training set, against a fixed
# holdout; Ours and Ours-app next to Random and MC-Dropout (which use the holdout for early stopping only).
experiment = dict(
    title='Growing holdout (20% or 50% of each selection) on imbalanced digits: Ours and Ours-app',
    config='configs/digits/mlp_{scorer}_imbalanced.py',
    scorers=['random', 'mc-dropout', 'holdout-loss-change-approx', 'holdout-loss-change'],
    seeds=list(range(10)),
    cfg_options={'loop.progress': False},
    variants={'': {},
              'holdout grows 20%': {'loop.holdout_growth': {'fraction': 0.2}},
              'holdout grows 50%': {'loop.holdout_growth': {'fraction': 0.5}}},
)
