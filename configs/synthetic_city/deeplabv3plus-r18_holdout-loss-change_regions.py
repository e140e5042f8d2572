# Regions on the synthetic city: SLIC superpixels of about 512 pixels (16 per 64x128 image), labelled with their
# dominant class by one click each; a step buys 8,192 pixels (a quarter of 4 images), from 4 initial images.
_base_ = ['./deeplabv3plus-r18_holdout-loss-change.py']
dataset = dict(regions=dict(type='SLIC', n_segments=16, compactness=10))
protocol = dict(initial_size=4, step_size=None, budget=dict(unit='pixels', per_step=8192))
scorer = dict(shortlist=32)
loop = dict(oracle=dict(type='simulated', region_label='dominant'))
