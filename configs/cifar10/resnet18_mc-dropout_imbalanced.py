_base_ = [
    '../_base_/datasets/cifar10.py', '../_base_/models/resnet18.py', '../_base_/scorers/mc_dropout.py',
    '../_base_/protocols/imbalanced.py', '../_base_/schedules/adam_early_stop.py', '../_base_/default_runtime.py'
]
protocol = dict(initial_size=5000)
