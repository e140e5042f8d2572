# Segmentation on the synthetic city (200 scenes of 64x128 in the Cityscapes layout), DeepLabV3+ R18 from
# scratch: Random, MC-Dropout, Ours-app and Ours, 3 seeds. Initial 16, steps of 8, 5 steps and at most 15
# epochs per stage; the grid took 1h35m with 2 workers on a 2-core CPU: mIoU curves, per-class IoU gains over
# Random, pixel mistake rates of each selection.
experiment = dict(
    title='Segmentation, synthetic city (initial 16, steps of 8): Random, MC-Dropout, Ours-app, Ours',
    config='configs/synthetic_city/deeplabv3plus-r18_{scorer}.py',
    scorers=['random', 'mc-dropout', 'holdout-loss-change-approx', 'holdout-loss-change'],
    seeds=[0, 1, 2],
    cfg_options={'loop.progress': False, 'dataset.generate': True, 'protocol.num_steps': 5, 'train.max_epochs': 15},
)
