seed = 0
device = 'auto'
loop = dict(score_batch_size=8, num_workers=0, keep_checkpoints=0, progress=True, tensorboard=False)
