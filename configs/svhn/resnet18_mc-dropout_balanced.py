_base_ = [
    '../_base_/datasets/svhn.py', '../_base_/models/resnet18.py', '../_base_/scorers/mc_dropout.py',
    '../_base_/protocols/balanced.py', '../_base_/schedules/adam_early_stop.py', '../_base_/default_runtime.py'
]
protocol = dict(initial_size=500)
