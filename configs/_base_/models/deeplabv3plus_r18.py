# smp DeepLabV3Plus with a ResNet18 encoder, no pretrained weights; dropout on the trunk features for MC-Dropout.
model = dict(type='SegmentationModel', arch='DeepLabV3Plus', encoder_name='resnet18', encoder_weights=None, dropout=0.1)
