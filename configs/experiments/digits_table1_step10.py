# The Table 1 analogue with steps that leave mistakes to find: balanced digits, initial 50, steps of 10 (150
# labelled after 10 steps). With steps of 50 the selecting model's wrong candidates run out (about 165 in the pool
# at step 1, 9-17 at step 5, 0-5 at step 10), so later rates there measure the pool more than the scorer.
_base_ = ['./_base_/digits_all_scorers.py']
experiment = dict(
    confirm_seeds=list(range(30, 50)),  # a disjoint seed set: the page states only what holds on both
    title='Table 1 analogue with steps of 10: mistakes found per selection, balanced digits, initial 50',
    config='configs/digits/mlp_{scorer}_balanced.py',
    cfg_options={'protocol.initial_size': 50, 'protocol.step_size': 10})
