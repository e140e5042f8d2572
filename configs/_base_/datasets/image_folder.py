# Your own classification images in torchvision's ImageFolder layout: data_root/train/<class>/<image> (the pool)
# and data_root/val/<class>/<image> (the test split); the classes are the pool's folder names, sorted. Images are
# read from disk as needed and resized to image_size. CSV splits (path,label per line) work too: pool='pool.csv'.
dataset = dict(type='ClassificationFolder', data_root='data/my_images', pool='train', test='val', image_size=(32, 32))
