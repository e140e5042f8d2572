# Early stopping on the holdout accuracy instead of its loss, imbalanced digits, every scorer. On this pool the
# step-0 stage often stops at epoch 4-6 with a near-chance holdout loss (about 2.1 against log 10 = 2.3): the
# balanced holdout's loss rises as soon as the model, trained on 1-in-10 minority classes, grows confident on the
# majority ones. Does watching the holdout accuracy, still chosen on the holdout only, change the comparison?
_base_ = ['./_base_/digits_all_scorers.py']
experiment = dict(
    seeds=list(range(30)),
    title='Imbalanced digits with early stopping on the holdout accuracy (train.monitor=accuracy), every scorer',
    config='configs/digits/mlp_{scorer}_imbalanced.py',
    cfg_options={'train.monitor': 'accuracy'})
