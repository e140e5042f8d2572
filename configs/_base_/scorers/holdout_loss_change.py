# "Ours" (eq. 3): 3 SGD steps on the head with the pseudo-label; score = holdout loss rise.
# lr 1e-3 for the MLP; ResNet configs override it with 1e-4 as in the paper.
scorer = dict(type='HoldoutLossChange', steps=3, lr=1e-3, reduction=None, chunk_size=None, holdout_pixels=None)
