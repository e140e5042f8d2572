# The digits_imbalanced grid on SVHN (the paper's Fig. 3), with the SVHN configs' own protocol sizes. Needs the
# SVHN files under data/svhn (README, Datasets); the grid checks them before it starts any run.
_base_ = ['./digits_imbalanced.py']
experiment = dict(
    title='Accuracy curves, imbalanced SVHN, every scorer',
    config='configs/svhn/resnet18_{scorer}_imbalanced.py')
