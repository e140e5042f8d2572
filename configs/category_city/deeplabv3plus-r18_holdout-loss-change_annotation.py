# Your own images and classes, annotated in Label Studio (README: "your own classes"): 7 classes in plain folders
# (python data_prep/category_city.py data/category_city --labelled 12); each tools/train.py call trains one step.
_base_ = ['../_base_/models/deeplabv3plus_r18.py', '../_base_/scorers/holdout_loss_change.py',
          '../_base_/protocols/labelled_files.py', '../_base_/schedules/adam_seg.py', '../_base_/seg_runtime.py']
dataset = dict(type='SegmentationFolder', data_root='data/category_city', require_labels=False,
               classes=['flat', 'construction', 'object', 'nature', 'sky', 'human', 'vehicle'],
               pool=dict(img_dir='images/train', ann_dir='labels/train'),
               test=dict(img_dir='images/val', ann_dir='labels/val'), img_suffix='.png', seg_map_suffix='.png')
protocol = dict(holdout_size=4)
scorer = dict(lr=1e-4, chunk_size=2, holdout_batch=4, shortlist=16)
train = dict(max_epochs=6, patience=3)
loop = dict(oracle='annotators')
