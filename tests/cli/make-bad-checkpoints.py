#!/usr/bin/env python3
"""Builds the corrupt checkpoints that the CLI bad-input tests feed to dlmscope.

    make-bad-checkpoints.py TINY_CHECKPOINT WORK_DIR

WORK_DIR is emptied, then gets one directory per case, each a copy of the good tiny checkpoint
with one thing broken. Files a case leaves alone are symlinks to the originals. Standard library
only (the CI image has python3; numpy is not needed here).
"""
import json
import os
import shutil
import stat
import struct
import sys

SHARD1 = "model-00001-of-00002.safetensors"
SHARD2 = "model-00002-of-00002.safetensors"
INDEX = "model.safetensors.index.json"
Q0 = "model.transformer.blocks.0.q_proj.weight"  # shard 1, [64, 64]
K1 = "model.transformer.blocks.1.k_proj.weight"  # shard 2, [64, 64]


def read_st(path):
    with open(path, "rb") as f:
        b = f.read()
    (n,) = struct.unpack("<Q", b[:8])
    return json.loads(b[8 : 8 + n]), b[8 + n :]


def write_st(path, header, data, length_delta=0):
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h) + length_delta) + h + data)


class Case:
    def __init__(self, tiny, work, name):
        self.tiny = tiny
        self.dir = os.path.join(work, name)
        os.makedirs(self.dir)
        for f in sorted(os.listdir(tiny)):
            os.symlink(os.path.join(tiny, f), os.path.join(self.dir, f))

    def own(self, name):
        """Replaces the symlink NAME by a real copy and returns its path."""
        p = os.path.join(self.dir, name)
        os.remove(p)
        shutil.copyfile(os.path.join(self.tiny, name), p)
        return p

    def edit_json(self, name, edit):
        p = self.own(name)
        with open(p) as f:
            j = json.load(f)
        edit(j)
        with open(p, "w") as f:
            json.dump(j, f, indent=2)

    def edit_shard(self, name, edit, length_delta=0):
        p = self.own(name)
        header, data = read_st(p)
        data = edit(header, data) or data
        write_st(p, header, data, length_delta)

    def cut(self, name, keep):
        """Keeps the first KEEP bytes of NAME (KEEP < 0: drops -KEEP bytes from the end)."""
        p = self.own(name)
        size = os.path.getsize(p)
        os.truncate(p, keep if keep >= 0 else size + keep)


def setitem(key, value):
    def edit(j):
        j[key] = value

    return edit


def main():
    tiny, work = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    if os.path.isdir(work):
        for root, dirs, _ in os.walk(work):  # a previous run's locked/ directory
            for d in dirs:
                os.chmod(os.path.join(root, d), stat.S_IRWXU)
        shutil.rmtree(work)
    os.makedirs(work)

    def case(name):
        return Case(tiny, work, name)

    # safetensors
    case("truncated").cut(SHARD2, -1000)
    case("truncated-header").cut(SHARD1, 200)
    case("header-length").edit_shard(SHARD1, lambda h, d: None, length_delta=1_000_000)

    def offsets_past_end(h, d):
        h[Q0]["data_offsets"] = [len(d), len(d) + 8192]

    case("offsets").edit_shard(SHARD1, offsets_past_end)

    def dtype(value):
        def edit(h, d):
            h[K1]["dtype"] = value

        return edit

    case("dtype-i8").edit_shard(SHARD2, dtype("I8"))
    case("dtype-f64").edit_shard(SHARD2, dtype("F64"))

    # index and shapes
    case("missing-tensor").edit_json(INDEX, lambda j: j["weight_map"].pop(K1))
    # shard names that leave the model directory (the absolute one exists); and a directory of
    # symlinks to files elsewhere, as the Hugging Face cache lays out a snapshot, which must load
    case("index-escape").edit_json(INDEX, lambda j: j["weight_map"].__setitem__(K1, "../" + SHARD2))
    case("index-absolute").edit_json(INDEX, lambda j: j["weight_map"].__setitem__(K1, os.path.join(os.path.abspath(tiny), SHARD2)))
    case("symlinked-snapshot")

    def reshape(h, d):
        h[Q0]["shape"] = [32, 128]

    case("shape").edit_shard(SHARD1, reshape)

    # config.json
    case("config-block-type").edit_json("config.json", setitem("block_type", "sequential"))
    case("config-include-bias").edit_json("config.json", setitem("include_bias", True))
    case("config-weight-tying").edit_json("config.json", setitem("weight_tying", True))
    case("config-heads").edit_json("config.json", setitem("n_heads", 5))
    case("config-malformed").cut("config.json", 300)
    case("short-context").edit_json("config.json", setitem("max_sequence_length", 40))

    # tokenizer.json
    case("tokenizer-malformed").cut("tokenizer.json", 2000)

    # a model directory nobody may read (only meaningful for non-root users); empty, so that
    # `rm -rf` of the build tree still removes it
    locked = os.path.join(work, "locked")
    os.makedirs(locked)
    os.chmod(locked, 0)


if __name__ == "__main__":
    main()
