# Segmentation: the same Adam schedule, with batches of 8 images and early stopping on the holdout mIoU.
_base_ = ['./adam_early_stop.py']
train = dict(batch_size=8, max_epochs=20, patience=5, monitor='miou', eval_batch_size=8)
