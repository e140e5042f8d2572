# Adam with early stopping on the holdout mIoU; a fresh optimizer per step.
train = dict(
    optimizer=dict(type='Adam', lr=1e-3),
    batch_size=8,
    max_epochs=20,
    patience=5,
    monitor='miou',
    eval_batch_size=8,
    num_workers=0)
