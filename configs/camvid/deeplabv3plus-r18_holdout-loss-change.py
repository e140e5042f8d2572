# A CamVid-style colour-mask layout (11 classes, void ignored): the paper's criterion with DeepLabV3+ R18.
_base_ = [
    '../_base_/datasets/camvid.py', '../_base_/models/deeplabv3plus_r18.py', '../_base_/scorers/holdout_loss_change.py',
    '../_base_/protocols/random_split.py', '../_base_/schedules/adam_seg.py', '../_base_/seg_runtime.py'
]
protocol = dict(initial_size=200, holdout_size=50, step_size=100, num_steps=10)
scorer = dict(lr=1e-4, chunk_size=1, holdout_batch=1)
train = dict(batch_size=8, max_epochs=50, eval_batch_size=2)
loop = dict(score_batch_size=2)
