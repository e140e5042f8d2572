dataset = dict(
    data_root='data/synthetic_city',
    generate=True,
    height=64,
    num_train=200,
    num_val=50,
    regions=dict(compactness=10, n_segments=16, type='SLIC'),
    seed=0,
    test_pipeline=[],
    train_pipeline=[
        dict(p=1.0, scale_limit=(
            -0.25,
            0.25,
        ), type='RandomScale'),
        dict(
            fill=0,
            fill_mask=255,
            min_height=64,
            min_width=128,
            type='PadIfNeeded'),
        dict(height=64, type='RandomCrop', width=128),
        dict(p=0.5, type='HorizontalFlip'),
    ],
    type='SyntheticCity',
    width=128)
device = 'auto'
loop = dict(
    keep_checkpoints=0,
    num_workers=0,
    progress=False,
    score_batch_size=8,
    tensorboard=False)
model = dict(
    arch='DeepLabV3Plus',
    dropout=0.1,
    encoder_name='resnet18',
    encoder_weights=None,
    type='SegmentationModel')
protocol = dict(
    budget=dict(first_steps=[
        2048,
        4096,
    ], per_step=8192, unit='pixels'),
    holdout_size=8,
    initial_size=4,
    num_steps=17,
    step_size=None,
    type='RandomSplitProtocol')
scorer = dict(shortlist=32, type='Random')
seed = 1
train = dict(
    batch_size=8,
    checkpoint_interval=5,
    eval_batch_size=8,
    max_epochs=8,
    monitor='miou',
    num_workers=0,
    optimizer=dict(lr=0.001, type='Adam'),
    patience=3)
work_dir = 'work_dirs/grid/synthetic_city_regions_long/random/regions/seed1'
