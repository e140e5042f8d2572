# Cityscapes on a GPU node: ImageNet-pretrained encoder, 512x1024 crops with scaling and flips, SGD with poly decay.
_base_ = [
    '../_base_/datasets/cityscapes.py', '../_base_/models/deeplabv3plus_r18_imagenet.py', '../_base_/scorers/holdout_loss_change_approx.py',
    '../_base_/protocols/random_split.py', '../_base_/schedules/sgd_poly_seg.py', '../_base_/gpu_runtime.py'
]
protocol = dict(initial_size=200, holdout_size=50, step_size=100, num_steps=10)
