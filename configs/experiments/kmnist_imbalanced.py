# The digits_imbalanced grid on KMNIST (the paper's Fig. 3), with the KMNIST configs' own protocol sizes. Needs the
# KMNIST files under data/kmnist (README, Datasets); the grid checks them before it starts any run.
_base_ = ['./digits_imbalanced.py']
experiment = dict(
    title='Accuracy curves, imbalanced KMNIST, every scorer',
    config='configs/kmnist/mlp_{scorer}_imbalanced.py')
