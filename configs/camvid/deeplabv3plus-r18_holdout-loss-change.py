# A CamVid-style colour-mask layout (11 classes, void ignored): the paper's criterion with DeepLabV3+ R18.
_base_ = ['../_base_/datasets/camvid.py', '../_base_/full_size_seg.py']
