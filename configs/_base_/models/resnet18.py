# ResNet18 for 28/32-pixel inputs, no pretrained weights.
model = dict(type='ResNet18Classifier', dropout=0.3)
