# Balanced setting (section 4.1): holdout as large as the initial set,
# steps of 10% of the initial set, 10 steps. initial_size is set per dataset.
protocol = dict(type='BalancedProtocol', initial_size=50, holdout_size=None, step_fraction=0.1, num_steps=10)
