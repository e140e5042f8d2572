# smp FPN with a ResNet18 encoder, no pretrained weights; dropout on the trunk features for MC-Dropout.
model = dict(type='SegmentationModel', arch='FPN', encoder_name='resnet18', encoder_weights=None, dropout=0.1)
