"""Datasets: conversion to sharded TFRecords, and one reading API for training and metrics.

    ds = stylegan2_tf.data.open_dataset(path, mirror=False)
    ds.resolution, ds.num_channels, ds.label_dim, ds.num_images, ds.name, ds.fingerprint
    for images, labels in ds.iterate(batch_size=64):   # uint8 [N,H,W,C], float32 [N,label_dim]
        ...
    tfds = ds.tf_dataset(batch_size=32, shuffle=True, repeat=True, seed=0)
"""

from stylegan2_tf.data.sources import DatasetError
from stylegan2_tf.data.dataset import (ImageDataset, TFRecordImageDataset, ArrayImageDataset,
                                       IDXImageDataset, ImageFolderDataset, SubsetDataset,
                                       open_dataset)
from stylegan2_tf.data.convert import create_from_images, create_fashion_mnist
from stylegan2_tf.data.tfrecords import write_tfrecord_dataset, read_manifest, verify_shards
from stylegan2_tf.data.images import make_grid, save_gif, save_image_grid, save_png, to_pil, to_uint8

__all__ = ['DatasetError', 'ImageDataset', 'TFRecordImageDataset', 'ArrayImageDataset', 'IDXImageDataset',
           'ImageFolderDataset', 'SubsetDataset', 'open_dataset', 'create_from_images', 'create_fashion_mnist',
           'write_tfrecord_dataset', 'read_manifest', 'verify_shards', 'make_grid', 'save_image_grid',
           'save_gif', 'save_png', 'to_pil', 'to_uint8']
