# A GPU node: CUDA when present, 8 loader workers, scoring batches of 8 images.
seed = 0
device = 'auto'
loop = dict(score_batch_size=8, num_workers=8, keep_checkpoints=0, progress=True, tensorboard=True)
# Under torchrun (tools/dist_train.sh): seconds a collective waits for every rank before the run stops.
dist = dict(timeout=1800)
