# The digits_imbalanced grid on CIFAR10 (the paper's Fig. 3), with the CIFAR10 configs' own protocol sizes. Needs the
# CIFAR10 files under data/cifar10 (README, Datasets); the grid checks them before it starts any run.
_base_ = ['./digits_imbalanced.py']
experiment = dict(
    title='Accuracy curves, imbalanced CIFAR10, every scorer',
    config='configs/cifar10/resnet18_{scorer}_imbalanced.py')
