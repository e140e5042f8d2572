# A CamVid-style layout with colour masks: images in train/ and val/, labels as RGB masks in train_labels/ and
# val_labels/ named <image stem>_L.png, each colour a class (the 11 classes of the common CamVid split), void
# (black) ignored; a pixel of any other colour is refused, naming the file and the colour.
dataset = dict(
    type='SegmentationFolder',
    data_root='data/camvid',
    classes=['sky', 'building', 'pole', 'road', 'pavement', 'tree', 'sign symbol', 'fence', 'car', 'pedestrian',
             'bicyclist'],
    palette=[[128, 128, 128], [128, 0, 0], [192, 192, 128], [128, 64, 128], [0, 0, 192], [128, 128, 0],
             [192, 128, 128], [64, 64, 128], [64, 0, 128], [64, 64, 0], [0, 128, 192]],
    pool=dict(img_dir='train', ann_dir='train_labels'),
    test=dict(img_dir='val', ann_dir='val_labels'),
    img_suffix='.png',
    seg_map_suffix='_L.png',
    colour_labels=True,
    ignore_colour=[0, 0, 0],
    train_pipeline=[
        dict(type='RandomCrop', height=360, width=480),
        dict(type='HorizontalFlip', p=0.5),
    ],
    test_pipeline=[])
