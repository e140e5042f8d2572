# "Ours-app" (eq. 10): minus the holdout gradient dotted with the pseudo-label gradient.
scorer = dict(type='HoldoutLossChangeApprox')
