#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets: tests/fuzz/corpus/<target>/seed-*.

Standard library only. Seeds are small valid (and a few almost valid)
inputs in each target's input layout (see the comment at the top of each
tests/fuzz/fuzz_<target>.cpp); libFuzzer mutates from there. Files named
crash-* in the corpus folders are regression inputs kept from fuzzing runs
(docs/reliability.md) and are left alone.

    python3 tests/fuzz/make_corpus.py
"""
import gzip
import json
import os
import shutil
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")


def part(b):
    """One length-prefixed part (fuzz_support.h split_parts)."""
    return struct.pack("<I", len(b)) + b


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def clear_seeds(target):
    d = os.path.join(CORPUS, target)
    if os.path.isdir(d):
        for f in os.listdir(d):
            if f.startswith("seed-"):
                os.remove(os.path.join(d, f))


# ---- images --------------------------------------------------------------

def png(width, height, channels, pixel, bit_depth=8):
    """A PNG (colour type by channel count: 1 grey, 3 RGB, 4 RGBA);
    pixel(x, y, c) gives each sample."""
    color_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    raw = bytearray()
    for y in range(height):
        raw.append(0)  # filter: none
        for x in range(width):
            for c in range(channels):
                v = pixel(x, y, c) & 0xFF
                raw += bytes([v]) if bit_depth == 8 else bytes([v, v])

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(raw), 9)) +
            chunk(b"IEND", b""))


def jpeg(width, height, channels):
    """A baseline JPEG whose every 8x8 block is flat mid-grey: each block is
    coded as DC difference 0 and end-of-block, with one-symbol Huffman tables
    (code '0'). Small, valid, and enough for libFuzzer to start from."""
    def seg(marker, body):
        return b"\xFF" + bytes([marker]) + struct.pack(">H", len(body) + 2) + body

    out = b"\xFF\xD8"
    out += seg(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
    out += seg(0xDB, b"\x00" + bytes([1] * 64))  # quantization table 0, all ones
    comps = b"".join(bytes([i + 1, 0x11, 0]) for i in range(channels))
    out += seg(0xC0, bytes([8]) + struct.pack(">HH", height, width) + bytes([channels]) + comps)
    one_code = bytes([1] + [0] * 15)  # one code of length 1
    out += seg(0xC4, b"\x00" + one_code + b"\x00")  # DC table 0: symbol 0 (category 0)
    out += seg(0xC4, b"\x10" + one_code + b"\x00")  # AC table 0: symbol 0x00 (end of block)
    out += seg(0xDA, bytes([channels]) + b"".join(bytes([i + 1, 0x00]) for i in range(channels)) +
               b"\x00\x3F\x00")
    blocks = ((width + 7) // 8) * ((height + 7) // 8) * channels
    bits = "00" * blocks
    bits += "1" * (-len(bits) % 8)
    data = bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8))
    data = data.replace(b"\xFF", b"\xFF\x00")
    return out + data + b"\xFF\xD9"


# ---- targets -------------------------------------------------------------

def model_json():
    clear_seeds("model_json")
    for name in sorted(os.listdir(os.path.join(ROOT, "models"))):
        if name.endswith(".json"):
            with open(os.path.join(ROOT, "models", name), "rb") as f:
                write("model_json", name, f.read())
    tiny = {
        "name": "tiny", "input": [1, 6, 6], "classes": 3,
        "layers": [
            {"name": "c1", "type": "conv", "out_channels": 4, "kernel": 3, "padding": 1, "stage": 1},
            {"name": "bn1", "type": "batchnorm", "eps": 1e-5, "momentum": 0.1},
            {"name": "q1", "type": "qact"},
            {"name": "c2", "type": "conv", "out_channels": 4, "kernel": [3, 1], "padding": [1, 0],
             "groups": 2, "bias": False, "stage": 2},
            {"name": "sum", "type": "add", "inputs": ["q1", "c2"]},
            {"name": "r", "type": "relu"},
            {"name": "mp", "type": "maxpool", "kernel": 2},
            {"name": "ap", "type": "avgpool", "kernel": 3, "stride": 1, "padding": 1},
            {"name": "cl", "type": "clamp", "lo": 0, "hi": 1},
            {"name": "f", "type": "flatten"},
            {"name": "d", "type": "dropout", "p": 0.25},
            {"name": "fc", "type": "linear", "out_features": "classes", "stage": 2},
        ],
    }
    write("model_json", "tiny.json", json.dumps(tiny))
    gap = dict(tiny, layers=[
        {"name": "c1", "type": "conv", "out_channels": 8, "kernel": 1},
        {"name": "g", "type": "globalavgpool"},
        {"name": "fc", "type": "linear", "out_features": "classes", "bias": False},
    ])
    write("model_json", "gap.json", json.dumps(gap))


def safetensors_file(tensors, metadata=None):
    """tensors: [(name, dtype, shape, raw bytes)] in data order."""
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def safetensors():
    clear_seeds("safetensors")
    f32 = struct.pack("<6f", 0.0, 1.0, -2.5, 3.25, 1e-3, -7.0)
    write("safetensors", "f32", safetensors_file([("w", "F32", [2, 3], f32)], {"format": "pt"}))
    write("safetensors", "mixed", safetensors_file([
        ("step", "I64", [], struct.pack("<q", 42)),
        ("d", "F64", [2], struct.pack("<2d", 0.5, -1.0)),
        ("w", "F32", [1, 2], struct.pack("<2f", 1.0, 2.0)),
        ("i", "I32", [3], struct.pack("<3i", -1, 0, 1)),
        ("bf", "BF16", [2], struct.pack("<2H", 0x3F80, 0xC000)),
        ("h", "F16", [2], struct.pack("<2H", 0x3C00, 0x7C00)),
        ("s", "I16", [1], struct.pack("<h", -3)),
        ("b", "I8", [2], struct.pack("<2b", -1, 1)),
        ("u", "U8", [2], bytes([0, 255])),
        ("m", "BOOL", [1], bytes([1])),
    ]))
    write("safetensors", "empty-tensor", safetensors_file([("e", "F32", [0, 4], b"")]))
    write("safetensors", "no-tensors", safetensors_file([], {"k": "v"}))
    with open(os.path.join(ROOT, "tests", "golden", "parity_input.safetensors"), "rb") as f:
        data = f.read()
    if len(data) <= 16384:
        write("safetensors", "parity-input", data)


def idx_pair(n, rows, cols, labels=None):
    images = struct.pack(">IIII", 0x803, n, rows, cols) + bytes((i * 37) & 0xFF for i in range(n * rows * cols))
    labels = labels if labels is not None else [i % 10 for i in range(n)]
    return images, struct.pack(">II", 0x801, n) + bytes(labels)


def idx():
    clear_seeds("idx")
    images, labels = idx_pair(3, 4, 5)
    write("idx", "plain", part(images) + labels)
    write("idx", "gzip", part(gzip.compress(images, mtime=0)) + gzip.compress(labels, mtime=0))
    write("idx", "gzip-images", part(gzip.compress(images, mtime=0)) + labels)
    images, labels = idx_pair(0, 1, 1)
    write("idx", "empty", part(images) + labels)
    images, labels = idx_pair(2, 28, 28)
    write("idx", "mnist-like", part(images) + labels)


def cifar_binary():
    clear_seeds("cifar_binary")
    rec10 = lambda label: bytes([label]) + bytes((i * 7) & 0xFF for i in range(3072))
    rec100 = lambda coarse, fine: bytes([coarse, fine]) + bytes((i * 5) & 0xFF for i in range(3072))
    write("cifar_binary", "c10", b"\x00" + part(rec10(3)) + rec10(9) + rec10(0))
    write("cifar_binary", "c100", b"\x01" + part(rec100(19, 99)) + rec100(0, 0))


def cifar_png():
    clear_seeds("cifar_png")
    rgb = png(1024, 2, 3, lambda x, y, c: x * 3 + y * 11 + c)
    write("cifar_png", "two-rows", part(b"[6, 9]") + rgb)
    write("cifar_png", "one-row", part(b"[0]") + png(1024, 1, 3, lambda x, y, c: 0))
    write("cifar_png", "grey", part(b"[1]") + png(1024, 1, 1, lambda x, y, c: x))


def image_folder():
    clear_seeds("image_folder")
    a = png(5, 3, 3, lambda x, y, c: x * 40 + c)
    b = png(2, 7, 1, lambda x, y, c: y * 30)
    write("image_folder", "png-rgb-grey", bytes([4]) + part(a) + b)
    write("image_folder", "png-rgba", bytes([7]) + part(png(4, 4, 4, lambda x, y, c: 255 - x)) + a)
    write("image_folder", "png-grey-alpha", bytes([2]) + part(png(3, 3, 2, lambda x, y, c: x + y)) + b)
    write("image_folder", "jpeg-rgb-grey", bytes([0x80 | 8]) + part(jpeg(16, 8, 3)) + jpeg(9, 9, 1))
    write("image_folder", "jpeg-png", bytes([0x80 | 1]) + part(jpeg(8, 8, 3)) + a)


def bits():
    clear_seeds("bits")
    for i, (stages, text) in enumerate([(4, "8-4-2-1"), (4, "progressive:8"), (3, "32"), (1, "2"),
                                        (5, "32-8-4-2-1"), (2, "progressive:1"), (0, "8")]):
        write("bits", str(i), bytes([stages]) + text.encode())


def run_config():
    clear_seeds("run_config")
    full = {"model": "models/resnet20.json", "data": "cifar10", "wbits": "8-4-2-1", "abits": 2,
            "width": 1.5, "optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True,
            "weight_decay": 2e-4, "schedule": "multistep", "milestones": [80, 120, 160],
            "gamma": 0.1, "warmup": 5, "epochs": 200, "batch": 128, "seed": 7, "threads": 2,
            "val_split": 0.1, "normalize": "dataset", "augment": "crop+flip", "limit": 1000,
            "out": "runs/x"}
    write("run_config", "full.json", json.dumps(full))
    write("run_config", "small.json", json.dumps({"model": "lenet5", "data": "fashion-mnist",
                                                  "optimizer": "adamw", "schedule": "cosine",
                                                  "epochs": "3", "lr": "1e-3"}))
    write("run_config", "strings.json", json.dumps({"model": "m.json", "milestones": "2,4",
                                                    "epochs": 6, "width": "0.5"}))


if __name__ == "__main__":
    for fn in (model_json, safetensors, idx, cifar_binary, cifar_png, image_folder, bits, run_config):
        fn()
    print("seed corpora written to", CORPUS)
