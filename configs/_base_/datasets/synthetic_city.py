# Synthetic street scenes in the Cityscapes layout: python data_prep/synthetic_city.py data/synthetic_city writes
# them (or generate=True, which generates into data_root when it holds none).
dataset = dict(
    type='SyntheticCity',
    data_root='data/synthetic_city',
    num_train=200,
    num_val=50,
    height=64,
    width=128,
    seed=0,
    train_pipeline=[
        dict(type='RandomScale', scale_limit=(-0.25, 0.25), p=1.0),
        dict(type='PadIfNeeded', min_height=64, min_width=128, fill=0, fill_mask=255),
        dict(type='RandomCrop', height=64, width=128),
        dict(type='HorizontalFlip', p=0.5),
    ],
    test_pipeline=[])
