# Read from local files only; see README "Datasets" for the expected layout.
dataset = dict(type='SVHN', data_root='data/svhn', download=False, verify_checksums=True)
