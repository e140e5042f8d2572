# Region versus image selection on the synthetic city (200 scenes of 64x128), DeepLabV3+ R18 from scratch:
# Random, Entropy, Ours-app and Ours (Ours re-scores a shortlist of 32 regions exactly), 3 seeds. Both modes start
# from the same 4 labelled images and take 4 steps. An image step buys 4 whole images (32,768 pixels); a region
# step buys SLIC superpixels (about 512 pixels each) up to 8,192 pixels, a quarter of that, labelled with their
# dominant class by one click each. The page compares them against labelled pixels and clicks (report_x).
experiment = dict(
    title='Regions (SLIC, 8,192 pixels a step) against images (4 a step), synthetic city: Random, Entropy, '
          'Ours-app, Ours',
    config='configs/synthetic_city/deeplabv3plus-r18_{scorer}.py',
    scorers=['random', 'entropy', 'holdout-loss-change-approx', 'holdout-loss-change'],
    seeds=[0, 1, 2],
    cfg_options={'loop.progress': False, 'dataset.generate': True, 'protocol.initial_size': 4, 'protocol.num_steps': 4,
                 'train.max_epochs': 8, 'train.patience': 3},
    variants={
        'images': {'protocol.step_size': 4},
        'regions': {'dataset.regions': dict(type='SLIC', n_segments=16, compactness=10),
                    'protocol.step_size': None, 'protocol.budget': dict(unit='pixels', per_step=8192),
                    'scorer.shortlist': 32},
    },
    report_x=['pixels', 'clicks'],
)
