# Real annotation work: pool-split images that already have labels form the initial set,
# a random holdout_size of them the holdout; tools/select.py chooses what to annotate next.
protocol = dict(type='LabelledFilesProtocol', holdout_size=50)
