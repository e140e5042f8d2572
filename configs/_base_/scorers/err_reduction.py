# Roy & McCallum expected error reduction, pseudo-label head updates, error on a pool subset.
scorer = dict(type='ErrReduction', subset_size=200, steps=3, lr=1e-3, error='log')
