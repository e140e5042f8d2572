# The digits_imbalanced grid on MNIST (the paper's Fig. 3), with the MNIST configs' own protocol sizes. Needs the
# MNIST files under data/mnist (README, Datasets); the grid checks them before it starts any run.
_base_ = ['./digits_imbalanced.py']
experiment = dict(
    title='Accuracy curves, imbalanced MNIST, every scorer',
    config='configs/mnist/mlp_{scorer}_imbalanced.py')
