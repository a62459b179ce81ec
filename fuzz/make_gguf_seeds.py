#!/usr/bin/env python3
"""Writes the GGUF pre-check's seed corpus (fuzz/corpus/gguf_precheck/): tiny hand-built GGUF
headers, valid and broken, never a real model. Layout as llama.cpp's ggml/src/gguf.cpp reads it:
"GGUF", u32 version, u64 n_tensors, u64 n_kv, then each key/value pair (u64 key length, key,
u32 type, value) and each tensor description (u64 name length, name, u32 n_dims, u64 dims,
u32 ggml type, u64 offset), padded to the alignment, then the tensor data.

Run from anywhere: python3 fuzz/make_gguf_seeds.py (rewrites the seeds; each stays under 4 KB).
"""
import os
import struct

U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 = range(13)
SCALAR = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f",
          BOOL: "<?", U64: "<Q", I64: "<q", F64: "<d"}


def string(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def value(t, v):
    return string(v) if t == STRING else struct.pack(SCALAR[t], v)


def kv(key, t, v):
    return string(key) + struct.pack("<I", t) + value(t, v)


def kv_array(key, t, items):
    out = string(key) + struct.pack("<IIQ", ARRAY, t, len(items))
    return out + b"".join(value(t, i) for i in items)


def gguf(kvs, tensors=(), version=3, alignment=32):
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs)) + b"".join(kvs)
    offset = 0
    for name, dims in tensors:  # f32 tensors
        out += string(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        out += struct.pack("<IQ", 0, offset)
        n = 4
        for d in dims:
            n *= d
        offset += (n + alignment - 1) // alignment * alignment
    out += b"\0" * (-len(out) % alignment)
    return out + b"\0" * offset


def main():
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "gguf_precheck")
    os.makedirs(here, exist_ok=True)
    tokens = ["<unk>", "<s>", "</s>", "a", "b", "ab", " the", "\u00e9"]
    full_kvs = [
        kv("general.architecture", STRING, "llama"),
        kv("general.alignment", U32, 32),
        kv("general.name", STRING, "seed"),
        kv("llama.context_length", U32, 64),
        kv("llama.rope.freq_base", F32, 10000.0),
        kv("test.u8", U8, 7), kv("test.i8", I8, -7), kv("test.u16", U16, 700),
        kv("test.i16", I16, -700), kv("test.i32", I32, -70000), kv("test.bool", BOOL, True),
        kv("test.u64", U64, 2**40), kv("test.i64", I64, -2**40), kv("test.f64", F64, 0.5),
        kv_array("tokenizer.ggml.tokens", STRING, tokens),
        kv_array("tokenizer.ggml.scores", F32, [0.0] * len(tokens)),
        kv_array("tokenizer.ggml.token_type", I32, [1] * len(tokens)),
        kv_array("test.empty", U8, []),
    ]
    full = gguf(full_kvs, tensors=[("token_embd.weight", [4, 2]), ("output_norm.weight", [4])])
    seeds = {
        "valid_v3.gguf": full,
        "valid_v2_empty.gguf": gguf([], version=2),
        "valid_one_kv.gguf": gguf([kv("general.architecture", STRING, "gpt2")]),
        "truncated_in_tokens.gguf": full[:full.index(b"tokenizer.ggml.tokens") + 60],
        "truncated_in_header.gguf": full[:20],
        "version_1.gguf": gguf(full_kvs[:2], version=1),
        "version_swapped.gguf": gguf(full_kvs[:2], version=0x03000000),
        "absurd_kv_count.gguf": b"GGUF" + struct.pack("<IQQ", 3, 0, 2**62) + full_kvs[0],
        "array_past_end.gguf": gguf([string("tokenizer.ggml.tokens") + struct.pack("<IIQ", ARRAY, STRING, 10**6) + string("a")]),
        "array_of_arrays.gguf": gguf([string("x") + struct.pack("<IIQ", ARRAY, ARRAY, 1) + struct.pack("<IQ", U8, 1) + b"\1"]),
        "duplicate_key.gguf": gguf([kv("a", U8, 1), kv("a", U8, 2)]),
        "bad_alignment.gguf": gguf([kv("general.alignment", U32, 24)]),
        "not_gguf.bin": b"this is plain text, not a model\n",
    }
    for name, data in seeds.items():
        assert len(data) < 4096, name
        with open(os.path.join(here, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
