# scikit-learn's 8x8 handwritten digits; ships with the package. 30% stratified test split.
dataset = dict(type='Digits', test_fraction=0.3, split_seed=0)
