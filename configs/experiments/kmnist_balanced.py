# The digits_balanced grid on KMNIST (the paper's Fig. 2), with the KMNIST configs' own protocol sizes. Needs the
# KMNIST files under data/kmnist (README, Datasets); the grid checks them before it starts any run.
_base_ = ['./digits_balanced.py']
experiment = dict(
    title='Accuracy curves, balanced KMNIST, every scorer',
    config='configs/kmnist/mlp_{scorer}_balanced.py')
