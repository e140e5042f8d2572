# Segmentation: the same Adam schedule, with batches of 8 images and early stopping on the holdout mIoU.
# Long stages save their progress every 5 epochs, so a killed run resumes inside the stage.
_base_ = ['./adam_early_stop.py']
train = dict(batch_size=8, max_epochs=20, patience=5, monitor='miou', eval_batch_size=8, checkpoint_interval=5)
