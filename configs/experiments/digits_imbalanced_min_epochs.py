# Imbalanced digits with every stage trained for at least 30 epochs (train.min_epochs) before early stopping
# may stop it. Half of the plain grid's seeds stopped step 0 at epoch 4-6 near chance, because the balanced
# holdout's loss rises for a few epochs before it falls far below its first minimum; 30 was read off the
# step-0 holdout loss curves (the holdout only, never the test split). Every scorer but ErrReduction (the
# plain grid's last, below Random), and Ours' best option of the plain grid; 30 seeds.
_base_ = ['./_base_/digits_all_scorers.py']
experiment = dict(
    seeds=list(range(30)),
    title='Imbalanced digits with train.min_epochs=30 (no early stop before epoch 30)',
    config='configs/digits/mlp_{scorer}_imbalanced.py',
    scorers=['random', 'entropy', 'mc-dropout', 'bald', 'coreset', 'badge', 'holdout-loss-change-approx',
             'holdout-loss-change'],
    cfg_options={'train.min_epochs': 30},
    variants={'': {},
              'per predicted class': dict(cfg_options={'loop.selection': 'per_predicted_class'},
                                          scorers=['holdout-loss-change'])})
