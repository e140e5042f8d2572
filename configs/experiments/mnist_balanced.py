# The digits_balanced grid on MNIST (the paper's Fig. 2), with the MNIST configs' own protocol sizes. Needs the
# MNIST files under data/mnist (README, Datasets); the grid checks them before it starts any run.
_base_ = ['./digits_balanced.py']
experiment = dict(
    title='Accuracy curves, balanced MNIST, every scorer',
    config='configs/mnist/mlp_{scorer}_balanced.py')
