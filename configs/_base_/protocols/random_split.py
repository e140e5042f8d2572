# Segmentation: random initial set and holdout from the pool split; fixed step size.
protocol = dict(type='RandomSplitProtocol', initial_size=16, holdout_size=8, step_size=8, num_steps=10)
