# The digits_balanced grid on SVHN (the paper's Fig. 2), with the SVHN configs' own protocol sizes. Needs the
# SVHN files under data/svhn (README, Datasets); the grid checks them before it starts any run.
_base_ = ['./digits_balanced.py']
experiment = dict(
    title='Accuracy curves, balanced SVHN, every scorer',
    config='configs/svhn/resnet18_{scorer}_balanced.py')
