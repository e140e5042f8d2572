_base_ = [
    '../_base_/datasets/kmnist.py', '../_base_/models/mlp.py', '../_base_/scorers/bald.py',
    '../_base_/protocols/balanced.py', '../_base_/schedules/adam_early_stop.py', '../_base_/default_runtime.py'
]
protocol = dict(initial_size=100)
