#!/usr/bin/env python3
"""Writes the seed corpora under corpus/<target>/ (run once; the files are committed).

Seeds are small valid inputs plus a few near-misses, so libFuzzer starts inside each parser's
grammar. Inputs found by fuzzing (crash reproducers) are added to the same folders by hand, with a
name that says what they found.
"""
import hashlib
import json
import pathlib
import shutil
import struct

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def write(target, name, data):
    d = HERE / "corpus" / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())


def safetensors(tensors, metadata=None, pad=True):
    header, blobs, offset = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, (dtype, shape, blob) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    h = json.dumps(header).encode()
    if pad:
        h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def seeds_safetensors():
    f32 = struct.pack("<6f", 1, -2, 3.5, 0, float("inf"), float("nan"))
    write("fuzz_safetensors", "f32_2x3", safetensors({"x": ("F32", [2, 3], f32)}, {"case": "pre T=1 n=2 C=3"}))
    write("fuzz_safetensors", "bf16_f16_f64", safetensors({
        "a": ("BF16", [2], struct.pack("<2H", 0x3F80, 0xFF80)),
        "b": ("F16", [3], struct.pack("<3H", 0x3C00, 0x7C00, 0x0001)),
        "c": ("F64", [1, 1], struct.pack("<d", 2.5))}))
    write("fuzz_safetensors", "scalar_and_empty", safetensors({
        "s": ("F32", [], struct.pack("<f", 7)), "e": ("F32", [0, 4], b"")}))
    write("fuzz_safetensors", "no_tensors", safetensors({}, {"k": "v"}))
    write("fuzz_safetensors", "unpadded", safetensors({"x": ("F32", [1], struct.pack("<f", 1))}, pad=False))
    write("fuzz_safetensors", "offsets_overlap",
          struct.pack("<Q", 80) + json.dumps({"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                                                 "y": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}
                                                ).encode().ljust(80) + b"\0" * 4)
    write("fuzz_safetensors", "huge_header_len", struct.pack("<Q", 1 << 62) + b"{}")


def seeds_sweep():
    for p in sorted((ROOT / "examples").glob("*.yaml")):
        shutil.copy(p, HERE / "corpus" / "fuzz_sweep" / p.name)
    write("fuzz_sweep", "minimal.yaml", "name: m\ncases: ['pre T=1 n=1 C=1']\n")
    write("fuzz_sweep", "skip_tol.yaml",
          "name: s\naxes:\n  op: [pre, post]\n  preset: [deepseek, lite]\n  T: [1, 2]\n  n: [1, 4]\n  C: [3]\n"
          "semantics: {repeats: 2}\nskip:\n  - when: {preset: lite, n: [4]}\n    reason: big\n"
          "tolerance: {profile: baseline, overrides: {dphi: {atol: 1e-2, rtol: 1e-2}}}\n")
    write("fuzz_sweep", "anchors.yaml", "name: &a x\ndescription: *a\naxes: {T: [1], n: [2], C: [3]}\n")
    write("fuzz_sweep", "bad_type.yaml", "name: [1]\naxes: {T: foo}\n")


def seeds_case_spec():
    lines = {
        "pre_deepseek": "pre T=137 n=4 C=1280 preset=deepseek seed=3 dist=normal repeats=10",
        "post_paper": "post T=5 n=3 C=9 preset=paper seed=1 dist=wide_logits dtype=f32",
        "lite": "pre T=2 n=3 C=4 preset=lite seed=7 tol=baseline",
        "zero_rows": "pre T=6 n=4 C=8 dist=zero_rows eps_rms=0",
        "large": "post T=1 n=1 C=1 dist=large post_mult=2",
        "overflow": "pre T=9223372036854775807 n=4 C=4",
        "bad_token": "pre T=1 n=1 C=1 =",
    }
    for name, line in lines.items():
        write("fuzz_case_spec", name, line)


def pb_varint(v):
    out = b""
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def pb_len(field, payload):
    return pb_varint(field << 3 | 2) + pb_varint(len(payload)) + payload


def pb_uint(field, v):
    return pb_varint(field << 3) + pb_varint(v)


def seeds_case_proto():
    write("fuzz_case_proto", "line", pb_len(1, b"pre T=13 n=4 C=64 preset=deepseek seed=3"))
    write("fuzz_case_proto", "line_bad", pb_len(1, b"pre T=0 n=4 C=64"))
    write("fuzz_case_proto", "empty", b"")
    # CaseFields: op=1 T=2 n=3 C=4 preset=5 seed=6 dist=7 dtype=8 tolerance=9 semantics=10 (map)
    write("fuzz_case_proto", "fields_raw", pb_len(2, pb_len(1, b"post") + pb_uint(2, 5) + pb_uint(3, 4) + pb_uint(4, 8)))


def upload_msg(flags, chunk, total=None, explicit_offset=None):
    """One message as fuzz_upload.cpp reads it: flags (bit0 header, bit1 header digest, bit2
    explicit offset, bit3 right trailer digest, bit4 raw trailer), [op, total u16], [offset u64],
    chunk length u16, chunk."""
    out = bytes([flags])
    if flags & 1:
        out += b"\x01" + struct.pack(">H", total)
    if flags & 4:
        out += struct.pack(">Q", explicit_offset)
    return out + struct.pack(">H", len(chunk)) + chunk


def raw_msg(chunk_message):
    """A message given as raw CheckChunk wire bytes (flags bit5), read by server/chunk_wire.hpp:
    flags, length u16, the bytes."""
    return bytes([32]) + struct.pack(">H", len(chunk_message)) + chunk_message


def check_chunk(op=None, total=None, offset=0, data=b"", sha256=None):
    """mhcverify.v1.CheckChunk: header=1 (op=1, total_bytes=5), offset=2, data=3, sha256=4."""
    out = b""
    if op is not None:
        out += pb_len(1, pb_len(1, op) + pb_uint(5, total))
    if offset:
        out += pb_uint(2, offset)
    out += pb_len(3, data)
    if sha256 is not None:
        out += pb_len(4, sha256)
    return out


def seeds_upload():
    body = b"payload!" * 8
    digest = hashlib.sha256(body).hexdigest().encode()
    write("fuzz_upload", "raw_one_chunk", raw_msg(check_chunk(b"post", len(body), 0, body, digest)))
    write("fuzz_upload", "raw_two_chunks", raw_msg(check_chunk(b"pre", len(body), 0, body[:24]))
          + raw_msg(check_chunk(offset=24, data=body[24:], sha256=digest)))
    # Fields out of order, the data given twice (the last counts), an unknown varint field 9.
    write("fuzz_upload", "raw_field_order", raw_msg(pb_len(3, b"stale") + pb_uint(9, 7) + pb_len(4, digest)
                                                    + pb_len(3, body) + pb_len(1, pb_len(1, b"post") + pb_uint(5, len(body)))))
    write("fuzz_upload", "raw_after_structured", upload_msg(1, body[:8], total=len(body))
          + raw_msg(check_chunk(offset=8, data=body[8:], sha256=digest)))
    write("fuzz_upload", "one_chunk_trailer", upload_msg(1 | 8, body, total=len(body)))
    write("fuzz_upload", "two_chunks", upload_msg(1, body[:20], total=len(body)) + upload_msg(8, body[20:]))
    write("fuzz_upload", "wrong_offset", upload_msg(1, body[:8], total=len(body)) + upload_msg(4, body[8:], explicit_offset=3))
    write("fuzz_upload", "no_header", upload_msg(0, b"data"))
    write("fuzz_upload", "over_limit", upload_msg(1, b"x", total=0xFFFF))


if __name__ == "__main__":
    seeds_safetensors()
    seeds_sweep()
    seeds_case_spec()
    seeds_case_proto()
    seeds_upload()
