# Regions as in Cai et al. (CVPR 2021): SLIC superpixels (about 2,000 per image, 1,000 pixels each), each labelled by
# one click naming its dominant class; a step buys 20,000 clicks, Ours re-scores the 200 best regions of Ours-app.
# Cache the maps ahead with: python data_prep/regions.py THIS_CONFIG --workers 8
_base_ = ['./deeplabv3plus-r18_holdout-loss-change.py']
dataset = dict(regions=dict(type='SLIC', n_segments=2000, compactness=10))
protocol = dict(step_size=None, budget=dict(unit='clicks', per_step=20000))
scorer = dict(shortlist=200)
loop = dict(oracle=dict(type='simulated', region_label='dominant'))
