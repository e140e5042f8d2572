# Annotation by regions: tools/select.py --unit regions|clicks|pixels writes a mask and an overlay per image, and
# annotators label the masked SLIC superpixels; tools/train.py trains on the partial label files they deliver.
_base_ = ['./deeplabv3plus-r18_holdout-loss-change_annotation.py']
dataset = dict(regions=dict(type='SLIC', n_segments=2000, compactness=10))
scorer = dict(shortlist=200)
