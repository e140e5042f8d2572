# Your own ImageFolder images (32x32 after resizing), the paper's imbalanced protocol, ResNet18 from scratch.
_base_ = [
    '../_base_/datasets/image_folder.py', '../_base_/models/resnet18.py', '../_base_/scorers/holdout_loss_change.py',
    '../_base_/protocols/imbalanced.py', '../_base_/schedules/adam_early_stop.py', '../_base_/default_runtime.py'
]
protocol = dict(initial_size=100)
scorer = dict(lr=1e-4)
