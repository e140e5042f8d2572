# Regions as in the _regions leaf, with Ours' shortlist re-scored by eq. 3 over every holdout pixel (reduction
# 'mean') instead of the mean over the pixels whose loss rose: the form that keeps a confident mistake (docs/regions.md).
_base_ = ['./deeplabv3plus-r18_holdout-loss-change_regions.py']
scorer = dict(reduction='mean')
