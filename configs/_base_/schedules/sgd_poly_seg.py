# GPU schedule after mmsegmentation's DeepLabV3+ Cityscapes recipe: SGD 0.01, momentum 0.9, weight decay 5e-4,
# poly decay (power 0.9) over each stage, batches of 8 crops of 512x1024, bf16 autocast and channels-last on CUDA.
# Each annotation step trains a stage of at most 100 epochs over the labelled set, stopped early on the holdout mIoU.
train = dict(
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=5e-4),
    poly_power=0.9,
    batch_size=8,
    max_epochs=100,
    patience=15,
    monitor='miou',
    eval_batch_size=4,
    num_workers=8,
    amp='auto',
    channels_last=None,
    checkpoint_interval=5)
