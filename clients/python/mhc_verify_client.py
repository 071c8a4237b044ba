"""Python client of the mhc-verify gRPC service (proto/mhc_verify.proto, docs/service.md).

For CI jobs that hold torch or numpy tensors: upload what your own mHC kernel produced and get it
judged against the f64 golden, or ask a (GPU) server to run a sweep of cases.

    from mhc_verify_client import Client
    client = Client("gpu-host:50051", token=open("token").read().strip())
    report = client.check_tensors({"x": x, "f": f, "h_post": hp, "h_res": H, "dout": dout,
                                   "out": out, "dx": dx, "df": df, "dh_post": dhp, "dh_res": dH},
                                  op="post", preset="deepseek")
    assert report["verdict"] == "pass", report

Needs grpcio and protobuf (Debian: python3-grpcio, python3-protobuf). The stubs are generated
from the .proto with protoc and Debian's grpc_python_plugin (package protobuf-compiler-grpc) on
first use, into MHC_VERIFY_STUB_DIR or ~/.cache/mhc-verify/stubs.
"""

import contextlib
import hashlib
import importlib
import json
import os
import struct
import subprocess
import sys
import threading

CHUNK_BYTES = 1 << 20  # the service's chunk limit
_HERE = os.path.dirname(os.path.abspath(__file__))
_DEFAULT_PROTO = os.path.join(_HERE, "..", "..", "proto", "mhc_verify.proto")


def load_stubs(stub_dir=None, proto=None):
    """Generates (if needed) and imports mhc_verify_pb2 and mhc_verify_pb2_grpc."""
    stub_dir = stub_dir or os.environ.get("MHC_VERIFY_STUB_DIR") or os.path.expanduser("~/.cache/mhc-verify/stubs")
    proto = os.path.abspath(proto or os.environ.get("MHC_VERIFY_PROTO") or _DEFAULT_PROTO)
    generated = os.path.join(stub_dir, "mhc_verify_pb2_grpc.py")
    if not os.path.exists(generated) or os.path.getmtime(generated) < os.path.getmtime(proto):
        os.makedirs(stub_dir, exist_ok=True)
        subprocess.run(["protoc", "-I", os.path.dirname(proto), "--python_out", stub_dir, "--grpc_python_out",
                        stub_dir, "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin", proto], check=True)
    if stub_dir not in sys.path:
        sys.path.insert(0, stub_dir)
    return importlib.import_module("mhc_verify_pb2"), importlib.import_module("mhc_verify_pb2_grpc")


# ------------------------------------------------------------------------------------------------
# safetensors (https://github.com/huggingface/safetensors "Format"), written here so the client
# needs neither torch nor the safetensors package.

def _tensor_bytes(value):
    """(dtype name, shape, little-endian bytes) of a torch tensor or numpy array."""
    module = type(value).__module__
    if module.startswith("torch"):
        import torch
        t = value.detach().to("cpu").contiguous()
        names = {torch.bfloat16: "BF16", torch.float16: "F16", torch.float32: "F32", torch.float64: "F64"}
        if t.dtype not in names:
            raise ValueError(f"tensor dtype {t.dtype} is not one of bf16, f16, f32, f64")
        raw = t.view(torch.int16) if t.dtype == torch.bfloat16 else t
        return names[t.dtype], list(t.shape), raw.numpy().tobytes()
    import numpy as np
    a = np.ascontiguousarray(value)
    names = {"float16": "F16", "float32": "F32", "float64": "F64", "bfloat16": "BF16"}
    if a.dtype.name not in names:
        raise ValueError(f"array dtype {a.dtype} is not one of float16, float32, float64, bfloat16")
    return names[a.dtype.name], list(a.shape), a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()


def safetensors_bytes(tensors, metadata=None):
    """Serialises a dict name -> tensor/array (and string metadata) as a safetensors payload."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name in sorted(tensors):
        dtype, shape, data = _tensor_bytes(tensors[name])
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def read_safetensors(path):
    """(tensors, metadata) of a safetensors file: numpy arrays by name and the string metadata.
    BF16 comes back widened exactly to float32: write your results in the dtype your kernel
    produces (a bf16 result stored as float32 is judged at f32 resolution). ValueError names what
    is wrong with a corrupt file."""
    import numpy as np
    with open(path, "rb") as fh:
        data = fh.read()
    if len(data) < 8:
        raise ValueError(f"{path}: {len(data)} bytes, too short for a safetensors header")
    (length,) = struct.unpack("<Q", data[:8])
    if length > len(data) - 8:
        raise ValueError(f"{path}: header length {length} exceeds the file ({len(data)} bytes)")
    try:
        header = json.loads(data[8:8 + length])
    except ValueError as e:
        raise ValueError(f"{path}: the header is not JSON ({e})") from None
    metadata = header.pop("__metadata__", {})
    floats = {"F16": "<f2", "F32": "<f4", "F64": "<f8"}
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        size = {"BF16": 2, "F16": 2, "F32": 4, "F64": 8}.get(info["dtype"], 1)
        count = 1
        for extent in info["shape"]:
            count *= extent
        if not 0 <= begin <= end <= len(data) - 8 - length or end - begin != count * size:
            raise ValueError(f"{path}: tensor {name}: data_offsets {info['data_offsets']} do not hold "
                             f"{info['dtype']}{info['shape']} inside the file")
        raw = data[8 + length + begin:8 + length + end]
        if info["dtype"] == "BF16":
            array = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
        elif info["dtype"] in floats:
            array = np.frombuffer(raw, floats[info["dtype"]])
        else:
            raise ValueError(f"{path}: tensor {name} is {info['dtype']}, not one of BF16, F16, F32, F64")
        tensors[name] = array.reshape(info["shape"])
    return tensors, metadata


def serve_kernel(compute, files=None):
    """Runs compute(tensors, metadata) -> {name: tensor} as mhc-verify's exec: or pipe: backend
    (docs/check.md). With files = (IN, OUT) it answers one call: exec:, or step 2 of `check`'s
    workflow. Without, it serves pipe: calls on stdin/stdout until stdin closes; print() goes to
    stderr meanwhile, and an exception becomes the answer "error: ...", which the verifier reports
    as the case's error. OUT gets the results and IN's metadata."""
    def one(path_in, path_out):
        tensors, metadata = read_safetensors(path_in)
        results = compute(tensors, metadata)
        with open(path_out, "wb") as fh:
            fh.write(safetensors_bytes(results, metadata))

    if files:
        one(*files)
        return
    replies = sys.stdout
    with contextlib.redirect_stdout(sys.stderr):
        for line in sys.stdin:
            path_in, _, path_out = line.rstrip("\n").partition("\t")
            try:
                one(path_in, path_out)
                reply = "ok"
            except Exception as e:  # noqa: BLE001 - any failure of the kernel is the case's error
                reply = "error: " + " ".join(f"{type(e).__name__}: {e}".split())
            replies.write(reply + "\n")
            replies.flush()


# ------------------------------------------------------------------------------------------------

class Client:
    """One server (or several behind one target such as ipv4:h1:p,h2:p or dns:///name)."""

    def __init__(self, target, token=None, root_certificates=None, private_key=None, certificate_chain=None,
                 stub_dir=None, proto=None):
        import grpc
        self._grpc = grpc
        self.pb, pb_grpc = load_stubs(stub_dir, proto)
        options = [("grpc.max_receive_message_length", 64 << 20),
                   ("grpc.service_config", json.dumps({"loadBalancingConfig": [{"round_robin": {}}]}))]
        if root_certificates:
            creds = grpc.ssl_channel_credentials(root_certificates, private_key, certificate_chain)
            self._channel = grpc.secure_channel(target, creds, options)
        else:
            self._channel = grpc.insecure_channel(target, options)
        self._stub = pb_grpc.VerifierStub(self._channel)
        self._metadata = [("authorization", f"Bearer {token}")] if token else None

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def info(self, timeout=30):
        return self._stub.GetInfo(self.pb.GetInfoRequest(), timeout=timeout, metadata=self._metadata)

    def _options(self, backend, diagnose):
        return self.pb.RunOptions(backend=backend or "", diagnose=diagnose)

    def run_case(self, case, backend=None, diagnose=True, timeout=3600):
        """Runs one case (its line form, e.g. "pre T=13 n=4 C=1280 seed=0"); returns the report dict."""
        request = self.pb.RunCaseRequest(case_ref=self.pb.CaseRef(line=case), options=self._options(backend, diagnose))
        result = self._stub.RunCase(request, timeout=timeout, metadata=self._metadata)
        return json.loads(result.report_json)

    def run_sweep(self, cases, backend=None, name="sweep", diagnose=True, timeout=3600, progress=None):
        """Runs case lines on the server; returns their report dicts in the order given.
        `progress(index, report)` is called as each case completes."""
        request = self.pb.RunSweepRequest(name=name, cases=[self.pb.CaseRef(line=c) for c in cases],
                                          options=self._options(backend, diagnose))
        reports = [None] * len(cases)
        for result in self._stub.RunSweep(request, timeout=timeout, metadata=self._metadata):
            reports[result.index] = json.loads(result.report_json)
            if progress:
                progress(result.index, reports[result.index])
        return reports

    def check_tensors(self, tensors, op="pre", preset="deepseek", semantics=None, label="python",
                      tolerance="baseline", precision="f32", phi_layout="MK", stream_layout="TNC", timeout=3600):
        """Judges the tensors of one op (inputs, upstream gradients, outputs and gradients under the
        interchange names of docs/check.md) against the golden; returns the report dict.
        precision: the arithmetic the implementation was written to use (f32, tf32, bf16gemm,
        bf16dx), which sets the baseline that judges it. phi_layout="KM": phi and dphi are [K, M];
        stream_layout="TCN": x, dx, dout, out are [T, C, n]."""
        payload = safetensors_bytes(tensors, {"op": op, "preset": preset, "precision": precision})
        header = self.pb.CheckHeader(op=op, preset=preset, semantics=semantics or {}, label=label,
                                     total_bytes=len(payload), tolerance=tolerance, precision=precision,
                                     phi_layout=phi_layout, stream_layout=stream_layout)

        # The SHA-256 is computed on another thread (hashlib releases the GIL) while the chunks
        # go out, and sent with the last one.
        digest = {}
        hasher = threading.Thread(target=lambda: digest.update(hex=hashlib.sha256(payload).hexdigest()))
        hasher.start()

        def chunks():
            view = memoryview(payload)
            for offset in range(0, len(payload), CHUNK_BYTES):
                data = bytes(view[offset:offset + CHUNK_BYTES])
                last = offset + len(data) == len(payload)
                if last:
                    hasher.join()
                yield self.pb.CheckChunk(header=header if offset == 0 else None, offset=offset, data=data,
                                         sha256=digest["hex"] if last else "")

        result = self._stub.CheckTensors(chunks(), timeout=timeout, metadata=self._metadata)
        return json.loads(result.report_json)


def check_tensors(tensors, target="127.0.0.1:50051", token=None, **kwargs):
    """One-shot form of Client.check_tensors."""
    with Client(target, token=token) as client:
        return client.check_tensors(tensors, **kwargs)


def run_sweep(cases, target="127.0.0.1:50051", token=None, **kwargs):
    """One-shot form of Client.run_sweep."""
    with Client(target, token=token) as client:
        return client.run_sweep(cases, **kwargs)
