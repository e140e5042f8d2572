# Every scorer on digits, 10 seeds; a leaf experiment names the protocol's configs and its title.
experiment = dict(
    scorers=['random', 'entropy', 'mc-dropout', 'bald', 'coreset', 'badge', 'err-reduction',
             'holdout-loss-change-approx', 'holdout-loss-change'],
    seeds=list(range(10)),
    cfg_options={'loop.progress': False},
)
