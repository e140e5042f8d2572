_base_ = [
    '../_base_/datasets/synthetic_city.py', '../_base_/models/deeplabv3plus_r18.py', '../_base_/scorers/random.py',
    '../_base_/protocols/random_split.py', '../_base_/schedules/adam_seg.py', '../_base_/seg_runtime.py'
]
