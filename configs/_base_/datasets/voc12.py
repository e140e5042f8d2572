# Pascal VOC 2012 segmentation as distributed: set data_root to the folder holding JPEGImages/,
# SegmentationClass/ (palette PNGs: the value is the class, 255 the object borders) and ImageSets/Segmentation/.
# The pool is the train list; the test split is the val list.
dataset = dict(
    type='SegmentationFolder',
    data_root='data/VOCdevkit/VOC2012',
    classes=['background', 'aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair', 'cow',
             'diningtable', 'dog', 'horse', 'motorbike', 'person', 'pottedplant', 'sheep', 'sofa', 'train',
             'tvmonitor'],
    palette=[[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0], [0, 0, 128], [128, 0, 128], [0, 128, 128],
             [128, 128, 128], [64, 0, 0], [192, 0, 0], [64, 128, 0], [192, 128, 0], [64, 0, 128], [192, 0, 128],
             [64, 128, 128], [192, 128, 128], [0, 64, 0], [128, 64, 0], [0, 192, 0], [128, 192, 0], [0, 64, 128]],
    pool=dict(img_dir='JPEGImages', ann_dir='SegmentationClass', split='ImageSets/Segmentation/train.txt'),
    test=dict(img_dir='JPEGImages', ann_dir='SegmentationClass', split='ImageSets/Segmentation/val.txt'),
    img_suffix='.jpg',
    seg_map_suffix='.png',
    train_pipeline=[
        dict(type='RandomScale', scale_limit=(-0.5, 1.0), p=1.0),
        dict(type='PadIfNeeded', min_height=512, min_width=512, fill=0, fill_mask=255),
        dict(type='RandomCrop', height=512, width=512),
        dict(type='HorizontalFlip', p=0.5),
    ],
    test_pipeline=[dict(type='PadIfNeeded', min_height=512, min_width=512, fill=0, fill_mask=255),
                   dict(type='CenterCrop', height=512, width=512)])
