#!/usr/bin/env python3
"""Create and inspect StyleGAN2 training datasets (sharded TFRecords + manifest.json).

  python tools/dataset_tool.py create_from_images --source DIR_OR_ZIP --dest OUT [--resolution R]
                                                  [--labels labels.json] [--on-error stop|skip]
  python tools/dataset_tool.py create_fashion_mnist --source /usr/share/datasets/fashion-mnist --dest OUT
  python tools/dataset_tool.py info OUT [--grid PATH] [--verify]
"""

import argparse
import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')


def _cmd_create_from_images(args):
    from stylegan2_tf.data import convert
    rep = convert.create_from_images(args.source, args.dest, resolution=args.resolution, labels=args.labels,
                                     on_error=args.on_error, channels=args.channels, overwrite=args.overwrite,
                                     shard_mb=args.shard_mb, max_images=args.max_images)
    print(f'wrote {rep.written} image(s) to {args.dest}' +
          (f'; skipped {len(rep.skipped)} bad file(s)' if rep.skipped else ''))


def _cmd_create_fashion_mnist(args):
    from stylegan2_tf.data import convert
    rep = convert.create_fashion_mnist(args.source, args.dest, overwrite=args.overwrite, shard_mb=args.shard_mb,
                                       max_images=args.max_images)
    print(f'wrote {rep.written} image(s) (32x32x1, 10 classes) to {args.dest}')


def _cmd_info(args):
    import numpy as np
    from stylegan2_tf.data import open_dataset, save_image_grid, verify_shards
    ds = open_dataset(args.path)
    print(f'name:        {ds.name}')
    print(f'type:        {type(ds).__name__}')
    print(f'images:      {ds.num_images}')
    print(f'shape:       {ds.resolution}x{ds.resolution}x{ds.num_channels} (HWC, uint8)')
    print(f'label_dim:   {ds.label_dim}')
    print(f'fingerprint: {ds.fingerprint}')
    if hasattr(ds, 'manifest'):
        print(f'shards:      {len(ds.manifest["shards"])}')
        if args.verify:
            verify_shards(ds.path, ds.manifest)
            print('verify:      all shard checksums match')
    counts = np.zeros([max(ds.label_dim, 1)], np.int64)
    grid = []
    for images, labels in ds.iterate(1024):
        if len(grid) < 64:
            grid.extend(images[:64 - len(grid)])
        if ds.label_dim:
            counts += labels.sum(axis=0).astype(np.int64)
    if ds.label_dim:
        print('label counts: ' + ', '.join(f'{i}:{c}' for i, c in enumerate(counts)))
    out = args.grid or os.path.join(os.getcwd(), f'{ds.name}-grid.png')
    save_image_grid(out, np.stack(grid))
    print(f'sample grid: {out}')


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest='command', required=True)
    a = sub.add_parser('create_from_images', help='convert a folder or zip of images')
    a.add_argument('--source', required=True, help='image folder (recursive) or zip archive')
    a.add_argument('--dest', required=True, help='output dataset directory')
    a.add_argument('--resolution', type=int, default=None,
                   help='center-crop to square and resize to R (power of two); default: keep, all must match')
    a.add_argument('--labels', default=None, help='labels JSON ({"labels": [[name, class], ...]}); default: '
                   'SOURCE/dataset.json if present')
    a.add_argument('--channels', type=int, choices=(1, 3), default=None, help='force 1 or 3 channels')
    a.add_argument('--on-error', dest='on_error', choices=('stop', 'skip'), default='stop',
                   help='stop at the first bad file (default) or skip bad files and report them')
    a.add_argument('--max-images', dest='max_images', type=int, default=None)
    a.add_argument('--shard-mb', dest='shard_mb', type=float, default=256.0, help='target shard size (MiB)')
    a.add_argument('--overwrite', action='store_true', help='replace an existing non-empty DEST')
    a.set_defaults(fn=_cmd_create_from_images)
    b = sub.add_parser('create_fashion_mnist', help='convert Fashion-MNIST IDX files (pads to 32x32)')
    b.add_argument('--source', default='/usr/share/datasets/fashion-mnist')
    b.add_argument('--dest', required=True)
    b.add_argument('--max-images', dest='max_images', type=int, default=None)
    b.add_argument('--shard-mb', dest='shard_mb', type=float, default=256.0)
    b.add_argument('--overwrite', action='store_true')
    b.set_defaults(fn=_cmd_create_fashion_mnist)
    c = sub.add_parser('info', help='print a dataset summary and write a sample grid PNG')
    c.add_argument('path')
    c.add_argument('--grid', default=None, help='grid PNG path (default ./NAME-grid.png)')
    c.add_argument('--verify', action='store_true', help='check shard checksums')
    c.set_defaults(fn=_cmd_info)
    args = p.parse_args(argv)
    from stylegan2_tf.data.sources import DatasetError
    try:
        args.fn(args)
    except DatasetError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
