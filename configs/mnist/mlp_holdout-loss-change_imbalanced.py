_base_ = [
    '../_base_/datasets/mnist.py', '../_base_/models/mlp.py', '../_base_/scorers/holdout_loss_change.py',
    '../_base_/protocols/imbalanced.py', '../_base_/schedules/adam_early_stop.py', '../_base_/default_runtime.py'
]
protocol = dict(initial_size=50)
