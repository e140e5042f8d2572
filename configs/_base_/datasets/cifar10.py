# Read from local files only; see README "Datasets" for the expected layout.
dataset = dict(type='CIFAR10', data_root='data/cifar10', download=False, verify_checksums=True)
