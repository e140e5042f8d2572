# ADE20K (SceneParsing, ADEChallengeData2016) as distributed: set data_root to the folder holding images/ and
# annotations/. Its label PNGs hold 0 for "other" and 1-150 for the classes: reduce_zero_label ignores 0 and
# reads v as class v - 1. No palette: segal gives the 150 classes distinct colours for figures and annotation tools.
dataset = dict(
    type='SegmentationFolder',
    data_root='data/ade/ADEChallengeData2016',
    classes=['wall', 'building', 'sky', 'floor', 'tree', 'ceiling', 'road', 'bed', 'windowpane', 'grass',
             'cabinet', 'sidewalk', 'person', 'earth', 'door', 'table', 'mountain', 'plant', 'curtain', 'chair',
             'car', 'water', 'painting', 'sofa', 'shelf', 'house', 'sea', 'mirror', 'rug', 'field', 'armchair',
             'seat', 'fence', 'desk', 'rock', 'wardrobe', 'lamp', 'bathtub', 'railing', 'cushion', 'base', 'box',
             'column', 'signboard', 'chest of drawers', 'counter', 'sand', 'sink', 'skyscraper', 'fireplace',
             'refrigerator', 'grandstand', 'path', 'stairs', 'runway', 'case', 'pool table', 'pillow',
             'screen door', 'stairway', 'river', 'bridge', 'bookcase', 'blind', 'coffee table', 'toilet', 'flower',
             'book', 'hill', 'bench', 'countertop', 'stove', 'palm', 'kitchen island', 'computer', 'swivel chair',
             'boat', 'bar', 'arcade machine', 'hovel', 'bus', 'towel', 'light', 'truck', 'tower', 'chandelier',
             'awning', 'streetlight', 'booth', 'television receiver', 'airplane', 'dirt track', 'apparel', 'pole',
             'land', 'bannister', 'escalator', 'ottoman', 'bottle', 'buffet', 'poster', 'stage', 'van', 'ship',
             'fountain', 'conveyer belt', 'canopy', 'washer', 'plaything', 'swimming pool', 'stool', 'barrel',
             'basket', 'waterfall', 'tent', 'bag', 'minibike', 'cradle', 'oven', 'ball', 'food', 'step', 'tank',
             'trade name', 'microwave', 'pot', 'animal', 'bicycle', 'lake', 'dishwasher', 'screen', 'blanket',
             'sculpture', 'hood', 'sconce', 'vase', 'traffic light', 'tray', 'ashcan', 'fan', 'pier', 'crt screen',
             'plate', 'monitor', 'bulletin board', 'shower', 'radiator', 'glass', 'clock', 'flag'],
    pool=dict(img_dir='images/training', ann_dir='annotations/training'),
    test=dict(img_dir='images/validation', ann_dir='annotations/validation'),
    img_suffix='.jpg',
    seg_map_suffix='.png',
    reduce_zero_label=True,
    train_pipeline=[
        dict(type='SmallestMaxSize', max_size=512),
        dict(type='RandomCrop', height=512, width=512),
        dict(type='HorizontalFlip', p=0.5),
    ],
    test_pipeline=[dict(type='SmallestMaxSize', max_size=512), dict(type='CenterCrop', height=512, width=512)])
