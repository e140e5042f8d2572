# The annotation workflow in under two minutes on a CPU (README: "Try it on the synthetic city"): a small synthetic city
# whose pool is mostly unlabelled (python data_prep/synthetic_city.py data/synthetic_city_annotation --num-train 120
# --num-val 30 --labelled 24). Each tools/train.py call trains one step; tools/select.py picks the next images.
_base_ = [
    '../_base_/datasets/synthetic_city.py', '../_base_/models/deeplabv3plus_r18.py', '../_base_/scorers/holdout_loss_change.py',
    '../_base_/protocols/labelled_files.py', '../_base_/schedules/adam_seg.py', '../_base_/seg_runtime.py'
]
dataset = dict(data_root='data/synthetic_city_annotation', num_train=120, num_val=30, require_labels=False)
protocol = dict(holdout_size=8)
scorer = dict(lr=1e-4, chunk_size=2, holdout_batch=4)
train = dict(max_epochs=8, patience=3)
loop = dict(oracle='annotators')
