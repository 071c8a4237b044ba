"""CTest `server_python_client`: the Python client against a real server on 127.0.0.1.

Starts `mhc_server_testbin serve` (the service with emulated workers) with a bearer token, then
exercises info, run_case, run_sweep and check_tensors with numpy arrays (a right and a wrong
implementation), read_safetensors (round trip, corrupt files), the statuses of bad requests, and
the PyTorch example when torch is installed.
"""

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import grpc  # noqa: E402

import numpy_mhc_post  # noqa: E402
from mhc_verify_client import Client, read_safetensors, safetensors_bytes  # noqa: E402

ARGS = None
TOKEN = "python-test-token"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PythonClient(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        token_file = os.path.join(cls.tmp.name, "token")
        with open(token_file, "w") as f:
            f.write(TOKEN + "\n")
        cls.token_file = token_file
        cls.target = f"127.0.0.1:{free_port()}"
        cls.server = subprocess.Popen([ARGS.server_bin, "serve", "--listen", cls.target, "--workers", "1",
                                       "--backend", "emulated", "--token-file", token_file, "--drain-seconds", "5"])
        cls.client = Client(cls.target, token=TOKEN, stub_dir=ARGS.stub_dir, proto=ARGS.proto)
        deadline = time.time() + 60
        while True:
            try:
                cls.info = cls.client.info(timeout=2)
                break
            except grpc.RpcError:
                if time.time() > deadline or cls.server.poll() is not None:
                    raise
                time.sleep(0.2)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.server.terminate()  # SIGTERM: graceful shutdown
        assert cls.server.wait(timeout=60) == 0
        cls.tmp.cleanup()

    def test_info(self):
        self.assertIn("emulated", list(self.info.backends))
        self.assertEqual(self.info.workers, 1)

    def test_run_case_and_sweep(self):
        report = self.client.run_case("pre T=7 n=4 C=32 preset=deepseek seed=3")
        self.assertEqual(report["verdict"], "pass")
        cases = [f"post T={5 + i} n=4 C=32 preset=deepseek seed={i}" for i in range(4)]
        seen = []
        reports = self.client.run_sweep(cases, progress=lambda i, r: seen.append(i))
        self.assertEqual(sorted(seen), [0, 1, 2, 3])
        self.assertEqual([r["verdict"] for r in reports], ["pass"] * 4)
        self.assertEqual([r["case"].split()[1] for r in reports], [f"T={5 + i}" for i in range(4)])  # in order

    def test_check_tensors_numpy(self):
        inputs = numpy_mhc_post.post_case(seed=1)
        right = self.client.check_tensors({**inputs, **numpy_mhc_post.post_forward_backward(inputs)}, op="post")
        self.assertEqual(right["verdict"], "pass", right)
        wrong = self.client.check_tensors(
            {**inputs, **numpy_mhc_post.post_forward_backward(inputs, transpose_h=False)}, op="post")
        self.assertEqual(wrong["verdict"], "fail")
        failing = {t["name"] for t in wrong["tensors"] if t["verdict"] == "fail"}
        self.assertIn("out", failing)

    def test_read_safetensors(self):
        import numpy as np
        inputs = numpy_mhc_post.post_case(seed=2)
        path = os.path.join(self.tmp.name, "case.safetensors")
        with open(path, "wb") as f:
            f.write(safetensors_bytes(inputs, {"op": "post"}))
        tensors, metadata = read_safetensors(path)
        self.assertEqual(metadata, {"op": "post"})
        for name, array in inputs.items():
            np.testing.assert_array_equal(tensors[name], array)
        with open(path, "rb") as f:
            raw = f.read()
        for corrupt, why in ((raw[:4], "too short"), (raw[:len(raw) - 16], "data_offsets"),
                             ((2 ** 63).to_bytes(8, "little") + raw[8:], "exceeds the file")):
            with open(path, "wb") as f:
                f.write(corrupt)
            with self.assertRaisesRegex(ValueError, why):
                read_safetensors(path)

    def test_statuses(self):
        with self.assertRaises(grpc.RpcError) as bad:
            self.client.run_case("pre T=7 n=4 C=32 preset=nonsense")
        self.assertEqual(bad.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("case_ref", bad.exception.details())
        with Client(self.target, token="wrong", stub_dir=ARGS.stub_dir, proto=ARGS.proto) as intruder:
            with self.assertRaises(grpc.RpcError) as denied:
                intruder.run_case("pre T=7 n=4 C=32")
            self.assertEqual(denied.exception.code(), grpc.StatusCode.UNAUTHENTICATED)

    def test_torch_example(self):
        try:
            import torch  # noqa: F401
        except ImportError:
            self.skipTest("torch is not installed")
        example = subprocess.run([sys.executable, os.path.join(HERE, "example_torch_mhc.py"), "--target", self.target,
                                  "--token-file", self.token_file, "--stub-dir", ARGS.stub_dir])
        self.assertEqual(example.returncode, 0)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--server-bin", required=True)
    parser.add_argument("--proto", required=True)
    parser.add_argument("--stub-dir", required=True)
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
