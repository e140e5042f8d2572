# ADE20K (150 classes, reduce_zero_label): the paper's criterion with DeepLabV3+ R18.
_base_ = ['../_base_/datasets/ade20k.py', '../_base_/full_size_seg.py']
