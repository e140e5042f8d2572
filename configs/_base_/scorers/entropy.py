scorer = dict(type='Entropy')
