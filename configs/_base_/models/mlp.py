# The paper's 2-layer fully connected network; input shape and classes come from the dataset.
model = dict(type='MLPClassifier', hidden=256, dropout=0.5)
