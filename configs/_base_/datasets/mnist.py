# Read from local files only; see README "Datasets" for the expected layout.
dataset = dict(type='MNIST', data_root='data/mnist', download=False, verify_checksums=True)
