# Adam with early stopping on the holdout (section 4.1). A fresh optimizer per step.
train = dict(
    optimizer=dict(type='Adam', lr=1e-3),
    batch_size=32,
    max_epochs=200,
    patience=10,
    monitor='loss',
    eval_batch_size=512,
    num_workers=0,
    checkpoint_interval=0)  # epochs between saves inside a stage; 0: only when the stage ends
