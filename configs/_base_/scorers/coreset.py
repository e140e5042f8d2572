# Greedy k-center on trunk features, seeded with the labelled set.
scorer = dict(type='Coreset')
