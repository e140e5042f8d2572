# k-means++ seeding on last-layer gradient embeddings with pseudo-labels.
scorer = dict(type='BADGE')
