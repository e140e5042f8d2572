# Cheaper region steps against training every partly labelled image whole every epoch, on the region setting of
# synthetic_city_regions.py: Ours-app, SLIC regions of about 512 pixels, 8,192 pixels a step, 4 steps from 4 images.
# Region mosaics (loop.region_mosaic=2), epochs drawn by labelled pixels (loop.region_sampling='pixels'), both, and
# epochs drawn by labelled pixels with three times the epoch cap (each such epoch costs about a sixth here).
# Same seeds, the same selection at step 0.
experiment = dict(
    title='Cheaper region steps (2x2 mosaics, epochs drawn by labelled pixels) against whole partly labelled images, '
          'synthetic city regions, Ours-app',
    config='configs/synthetic_city/deeplabv3plus-r18_{scorer}.py',
    scorers=['holdout-loss-change-approx'],
    seeds=[0, 1, 2, 3, 4, 5],  # the cost page pairs nothing: docs/regions.md pairs seeds 0-2, then 3-5
    cfg_options={'loop.progress': False, 'dataset.generate': True, 'protocol.initial_size': 4, 'protocol.num_steps': 4,
                 'train.max_epochs': 8, 'train.patience': 3,
                 'dataset.regions': dict(type='SLIC', n_segments=16, compactness=10),
                 'protocol.step_size': None, 'protocol.budget': dict(unit='pixels', per_step=8192)},
    variants={'': {}, 'mosaic 2x2': {'loop.region_mosaic': 2}, 'drawn by pixels': {'loop.region_sampling': 'pixels'},
              'mosaic 2x2, drawn by pixels': {'loop.region_mosaic': 2, 'loop.region_sampling': 'pixels'},
              'drawn by pixels, 24 epochs': {'loop.region_sampling': 'pixels', 'train.max_epochs': 24}},
    report_x=['pixels'],
)
