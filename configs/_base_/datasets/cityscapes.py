# Real Cityscapes: set data_root to the folder holding leftImg8bit/ and gtFine/.
# Training: random scale 0.5-2.0, 512x1024 crops, flips; evaluation at full resolution.
dataset = dict(
    type='Cityscapes',
    data_root='data/cityscapes',
    pool_split='train',
    test_split='val',
    train_pipeline=[
        dict(type='RandomScale', scale_limit=(-0.5, 1.0), p=1.0),
        dict(type='PadIfNeeded', min_height=512, min_width=1024, fill=0, fill_mask=255),
        dict(type='RandomCrop', height=512, width=1024),
        dict(type='HorizontalFlip', p=0.5),
    ],
    test_pipeline=[])
