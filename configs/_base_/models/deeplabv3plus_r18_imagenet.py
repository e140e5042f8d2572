# DeepLabV3+ ResNet18 starting from ImageNet encoder weights in a local file (segal never downloads at run time).
# Make the file once where the network is open: python data_prep/encoder_weights.py resnet18 checkpoints/resnet18_imagenet.pth
_base_ = ['./deeplabv3plus_r18.py']
model = dict(load_from='checkpoints/resnet18_imagenet.pth')
