# The paper's segmentation setting at full image size on a GPU (the Cityscapes leaf's sizes): DeepLabV3+ R18, Ours,
# 200 initial images, steps of 100, small scoring batches for the exact criterion. A leaf adds its dataset.
_base_ = ['./models/deeplabv3plus_r18.py', './scorers/holdout_loss_change.py', './protocols/random_split.py',
          './schedules/adam_seg.py', './seg_runtime.py']
protocol = dict(initial_size=200, holdout_size=50, step_size=100, num_steps=10)
scorer = dict(lr=1e-4, chunk_size=1, holdout_batch=1)
train = dict(batch_size=8, max_epochs=50, eval_batch_size=2)
loop = dict(score_batch_size=2)
