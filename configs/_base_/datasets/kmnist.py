# Read from local files only; see README "Datasets" for the expected layout.
dataset = dict(type='KMNIST', data_root='data/kmnist', download=False, verify_checksums=True)
