# Real annotation work on a Cityscapes-layout folder whose pool images are only partly labelled.
# Each tools/train.py call trains one step on the labels delivered so far; tools/select.py picks the next images.
_base_ = [
    '../_base_/datasets/cityscapes.py', '../_base_/models/deeplabv3plus_r18.py', '../_base_/scorers/holdout_loss_change.py',
    '../_base_/protocols/labelled_files.py', '../_base_/schedules/adam_seg.py', '../_base_/seg_runtime.py'
]
dataset = dict(require_labels=False)
scorer = dict(lr=1e-4, chunk_size=1, holdout_batch=1)
train = dict(eval_batch_size=2)
loop = dict(score_batch_size=2, oracle='annotators')
