# The paper's Table 1 analogue: how many of each selection the selecting model had predicted wrongly, at
# annotation steps 1, 5 and 10. Balanced digits, initial 50, step 50 (Table 1 uses a larger step than the
# curves), 30 seeds, every scorer.
_base_ = ['./_base_/digits_all_scorers.py']
experiment = dict(
    confirm_seeds=list(range(30, 50)),  # a disjoint seed set: the page states only what holds on both
    title='Table 1 analogue: mistakes found per selection, balanced digits, initial 50, step 50',
    config='configs/digits/mlp_{scorer}_balanced.py',
    cfg_options={'protocol.initial_size': 50, 'protocol.step_size': 50})
