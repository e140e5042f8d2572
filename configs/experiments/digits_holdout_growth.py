# A growing holdout (section 3: the holdout "can be augmented as new labels are obtained") on imbalanced
# digits: 20% or 50% of each step's new labels join the holdout instead of the training set, against a fixed
# holdout; Ours and Ours-app next to Random and MC-Dropout (which use the holdout for early stopping only).
_base_ = ['./_base_/digits_imbalanced_ours_vs_references.py']
experiment = dict(
    title='Growing holdout (20% or 50% of each selection) on imbalanced digits: Ours and Ours-app',
    variants={'': {},
              'holdout grows 20%': {'loop.holdout_growth': {'fraction': 0.2}},
              'holdout grows 50%': {'loop.holdout_growth': {'fraction': 0.5}}})
