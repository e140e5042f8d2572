_base_ = ['./deeplabv3plus-r18_holdout-loss-change.py']
# holdout loss on 1/4 of each holdout image's pixels (random rows, exact there)
scorer = dict(holdout_pixels=0.25)
