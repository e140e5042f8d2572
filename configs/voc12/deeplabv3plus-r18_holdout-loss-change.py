# Pascal VOC 2012 (21 classes, the train list as the pool): the paper's criterion with DeepLabV3+ R18.
_base_ = ['../_base_/datasets/voc12.py', '../_base_/full_size_seg.py']
