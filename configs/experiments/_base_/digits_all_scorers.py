# Every scorer on digits, 30 seeds (10 were too few for the differences the pages report); a leaf experiment names the protocol's configs and its title.
experiment = dict(
    scorers=['random', 'entropy', 'mc-dropout', 'bald', 'coreset', 'badge', 'err-reduction',
             'holdout-loss-change-approx', 'holdout-loss-change'],
    seeds=list(range(30)),
    cfg_options={'loop.progress': False},
)
