"""Applying a selected model to whole volumes, blockwise and sharded (DESIGN §8).

One target is processed by these jobs, each a subcommand of `cli.py`:

    predict-prepare      plan (geometry, hashes) + empty OME-Zarr outputs   -> prepared.json
    predict-shard  i/N   network over blocks i::N                           -> shards/predict_i.json
    segment-shard  i/N   per-block fragments + face records (or semantic)   -> shards/segment_i.json
    segment-merge        union-find over face records -> lookup table       -> merge.json, lut.npz
    relabel-shard  i/N   final ids per block                                -> shards/relabel_i.json
    predict-verify       every block present, hashes and checksums match    -> verified.json

Nothing here is imported at package import: `paths` and `config` stay free of torch and zarr so
that the Snakefile can use them while it is parsed.
"""
