# Issue 34, point 3: region runs long enough to pass image-level Ours' final mIoU.
# Image runs take 4 steps of 4 whole images (163,840 labelled pixels at the end). Region runs start with small
# steps (2,048 and 4,096 pixels) so the curves are read where they cross, then buy 8,192 pixels a step for 17
# steps in all, which reaches the image runs' final pixels. Five scorers, the last two forms of Ours with either
# holdout reduction; each with and without class-balanced ranking. Random and Ours-app also buy exact region labels
# (one click per class in a region). Run it in parts (--seeds): the grid resumes.
experiment = dict(
    title='Regions until they pass image-level Ours (synthetic city, small first steps, 5 seeds)',
    config='configs/synthetic_city/deeplabv3plus-r18_{scorer}.py',
    scorers=['random', 'entropy', 'holdout-loss-change-approx', 'holdout-loss-change'],
    seeds=[0, 1, 2, 3, 4],
    cfg_options={'loop.progress': False, 'dataset.generate': True, 'protocol.initial_size': 4,
                 'train.max_epochs': 8, 'train.patience': 3},
    variants={
        'images': {'protocol.step_size': 4, 'protocol.num_steps': 4},
        'regions': dict(cfg_options={
            'dataset.regions': dict(type='SLIC', n_segments=16, compactness=10), 'protocol.step_size': None,
            'protocol.num_steps': 17, 'scorer.shortlist': 32,
            'protocol.budget': dict(unit='pixels', per_step=8192, first_steps=[2048, 4096])}),
        'regions, mean': dict(scorers=['holdout-loss-change'], cfg_options={
            'dataset.regions': dict(type='SLIC', n_segments=16, compactness=10), 'protocol.step_size': None,
            'protocol.num_steps': 17, 'scorer.shortlist': 32, 'scorer.reduction': 'mean',
            'protocol.budget': dict(unit='pixels', per_step=8192, first_steps=[2048, 4096])}),
        'regions, balanced': dict(cfg_options={
            'dataset.regions': dict(type='SLIC', n_segments=16, compactness=10), 'protocol.step_size': None,
            'protocol.num_steps': 17, 'scorer.shortlist': 32, 'loop.region_class_balance': 1.0,
            'protocol.budget': dict(unit='pixels', per_step=8192, first_steps=[2048, 4096])}),
        'regions, exact labels': dict(scorers=['random', 'holdout-loss-change-approx'], cfg_options={
            'dataset.regions': dict(type='SLIC', n_segments=16, compactness=10), 'protocol.step_size': None,
            'protocol.num_steps': 17, 'loop.oracle': dict(type='simulated', region_label='exact'),
            'protocol.budget': dict(unit='pixels', per_step=8192, first_steps=[2048, 4096])}),
    },
    report_x=['pixels', 'clicks'],
)
