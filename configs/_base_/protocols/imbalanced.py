# Imbalanced setting (section 4.1): half of the classes at 1/10 of the others in the
# initial set and the pool; initial per-class size and step size doubled; balanced
# holdout of 1/5 of the initial size. initial_size is the dataset's balanced size.
protocol = dict(
    type='ImbalancedProtocol',
    initial_size=50,
    scale=2,
    minority_fraction=0.5,
    minority_ratio=0.1,
    minority_classes=None,
    holdout_fraction=0.2,
    step_fraction=0.1,
    num_steps=10)
