scorer = dict(type='Random')
