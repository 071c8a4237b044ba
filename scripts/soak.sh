#!/usr/bin/env bash
# Soak and fault test of the gRPC service (issue 6 item 4). Bounded in time, loopback only.
#
#   scripts/soak.sh [--duration SECONDS] [--workers N] [--clients N] [--server-bin PATH]
#
# Starts `serve` on 127.0.0.1 (a free port) and drives it with mixed load from --clients threads:
# valid cases and sweeps, malformed requests, cancellations, deadline expiries, uploads cut off
# mid-stream or corrupted, a crashing kernel, while another thread SIGKILLs a random worker
# every few seconds. Then it asserts: the server is healthy (grpc.health.v1 SERVING), every
# request got exactly one final answer with an allowed status (a numerical FAIL of a valid case
# is listed as a note: it is the tolerance model's verdict, not a service fault), every accepted sweep delivered
# each of its cases exactly once, RSS did not grow after warm-up (last third vs first third of
# the run), no file descriptors leaked, and SIGTERM shuts the server down cleanly. Prints the
# figures recorded in docs/reliability.md. Exit status 0 when every assertion holds.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=600
workers=2
clients=6
server_bin=""
while (($#)); do
  case "$1" in
    --duration) duration="$2"; shift 2 ;;
    --workers) workers="$2"; shift 2 ;;
    --clients) clients="$2"; shift 2 ;;
    --server-bin) server_bin="$2"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "soak.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [[ -z "$server_bin" ]]; then
  for candidate in build/release/cli/mhc-verify build/*/cli/mhc-verify build/*/tests/server/mhc_server_testbin; do
    if [[ -x "$candidate" ]]; then server_bin="$candidate"; break; fi
  done
fi
[[ -x "$server_bin" ]] || { echo "soak.sh: no server binary; build mhc-verify or pass --server-bin" >&2; exit 2; }

exec /usr/bin/python3 - "$server_bin" "$duration" "$workers" "$clients" <<'PY'
import collections, hashlib, json, os, random, signal, socket, subprocess, sys, tempfile, threading, time

server_bin, duration, workers, clients = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
sys.path.insert(0, os.path.join(os.getcwd(), "clients", "python"))
import grpc
from mhc_verify_client import load_stubs, safetensors_bytes
import numpy_mhc_post

stub_dir = tempfile.mkdtemp(prefix="mhc_soak_stubs_")
pb, pb_grpc = load_stubs(stub_dir, "proto/mhc_verify.proto")

with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
target = f"127.0.0.1:{port}"
server = subprocess.Popen([server_bin, "serve", "--listen", target, "--workers", str(workers), "--backend", "emulated",
                           "--drain-seconds", "20"], stderr=subprocess.DEVNULL)
channel = grpc.insecure_channel(target, [("grpc.max_receive_message_length", 64 << 20)])
stub = pb_grpc.VerifierStub(channel)
health = channel.unary_unary("/grpc.health.v1.Health/Check")
for _ in range(300):
    try:
        stub.GetInfo(pb.GetInfoRequest(), timeout=2)
        break
    except grpc.RpcError:
        time.sleep(0.2)
else:
    sys.exit("soak: the server did not come up")

OK, C = grpc.StatusCode.OK, grpc.StatusCode
def line(rng, op=None):
    op = op or rng.choice(["pre", "post"])
    return f"{op} T={rng.randint(3, 24)} n=4 C={rng.choice([16, 32, 64])} preset={rng.choice(['deepseek', 'paper'])} seed={rng.randint(0, 10**6)}"

def upload_of(rng, corrupt=False):
    inputs = numpy_mhc_post.post_case(T=rng.randint(3, 16), C=32, seed=rng.randint(0, 10**6))
    payload = safetensors_bytes({**inputs, **numpy_mhc_post.post_forward_backward(inputs)}, {"op": "post"})
    digest = hashlib.sha256(payload).hexdigest()
    if corrupt:
        payload = payload[:-1] + bytes([payload[-1] ^ 1])
    return payload, pb.CheckHeader(op="post", preset="deepseek", label="soak", total_bytes=len(payload), sha256=digest)

def chunks(payload, header, cut=None, chunk=4096):
    end = len(payload) if cut is None else cut
    for off in range(0, end, chunk):
        yield pb.CheckChunk(header=header if off == 0 else None, offset=off, data=payload[off:min(off + chunk, end)])
    if cut is not None and cut % 2:
        raise RuntimeError("client gave up mid-upload")  # gRPC cancels the call

# Each action returns (status code, detail); `allowed` lists the statuses it may end with.
# A numerical "fail" of a valid case is a verdict about the tolerance model, not a service fault:
# it is listed (with the line to reproduce it in-process) but does not fail the soak.
verdict_notes = []
def check_verdict(r):
    assert r.verdict in ("pass", "fail", "crash"), f"{r.case_line}: verdict {r.verdict}"
    if r.verdict == "fail":
        verdict_notes.append(r.case_line)

def a_case(rng):
    r = stub.RunCase(pb.RunCaseRequest(case_ref=pb.CaseRef(line=line(rng))), timeout=120)
    check_verdict(r)
    return OK, r.verdict

def a_sweep(rng):
    n = rng.randint(2, 6)
    seen = collections.Counter()
    for r in stub.RunSweep(pb.RunSweepRequest(cases=[pb.CaseRef(line=line(rng)) for _ in range(n)]), timeout=300):
        seen[r.index] += 1
        check_verdict(r)
    assert sorted(seen) == list(range(n)) and set(seen.values()) == {1}, f"sweep delivered {dict(seen)} of {n}"
    return OK, f"{n} cases"

def a_malformed(rng):
    bad = rng.choice(["pre T=5 n=4 C=32 preset=nonsense", "pre T=100000000000 n=4 C=100000", "sideways T=1",
                      "pre T=5 n=0 C=32", "pre T=5 n=4 C=32 dist=nope", ""])
    stub.RunCase(pb.RunCaseRequest(case_ref=pb.CaseRef(line=bad)), timeout=30)
    return OK, "accepted a malformed case"

def a_cancel(rng):
    call = stub.RunSweep(pb.RunSweepRequest(cases=[pb.CaseRef(line=line(rng)) for _ in range(40)]), timeout=300)
    next(call)
    call.cancel()
    for _ in call:
        pass
    return OK, "not cancelled"

def a_deadline(rng):
    for _ in stub.RunSweep(pb.RunSweepRequest(cases=[pb.CaseRef(line=line(rng)) for _ in range(40)]),
                           timeout=rng.uniform(0.05, 0.5)):
        pass
    return OK, "finished before the deadline"

def a_upload(rng):
    payload, header = upload_of(rng)
    r = stub.CheckTensors(chunks(payload, header), timeout=120)
    assert r.verdict in ("pass", "crash"), r.verdict
    return OK, r.verdict

def a_cut_upload(rng):
    payload, header = upload_of(rng)
    stub.CheckTensors(chunks(payload, header, cut=rng.randint(1, len(payload) - 1)), timeout=60)
    return OK, "accepted a cut-off upload"

def a_corrupt_upload(rng):
    payload, header = upload_of(rng, corrupt=True)
    stub.CheckTensors(chunks(payload, header), timeout=60)
    return OK, "accepted a corrupted upload"

def a_crash(rng):
    r = stub.RunCase(pb.RunCaseRequest(case_ref=pb.CaseRef(line=line(rng, "pre")),
                                       options=pb.RunOptions(backend="mutant:crash_out_of_bounds")), timeout=60)
    assert r.verdict == "crash", r.verdict
    return OK, r.verdict

# Busy answers (RESOURCE_EXHAUSTED) are allowed everywhere: the request was not accepted.
ACTIONS = {
    "case": (a_case, 20, {OK}),
    "sweep": (a_sweep, 20, {OK}),
    "malformed": (a_malformed, 10, {C.INVALID_ARGUMENT}),
    "cancel": (a_cancel, 8, {C.CANCELLED}),
    "deadline": (a_deadline, 8, {C.DEADLINE_EXCEEDED, OK}),
    "upload": (a_upload, 10, {OK}),
    "cut_upload": (a_cut_upload, 8, {C.INVALID_ARGUMENT, C.CANCELLED, C.UNKNOWN}),
    "corrupt_upload": (a_corrupt_upload, 6, {C.INVALID_ARGUMENT}),
    "crash": (a_crash, 3, {OK}),
}
names = list(ACTIONS)
weights = [ACTIONS[n][1] for n in names]

lock = threading.Lock()
answers = collections.Counter()      # (action, status) -> count
problems = []
requests = 0
stop_at = time.time() + duration

def client(seed):
    global requests
    rng = random.Random(seed)
    while time.time() < stop_at:
        name = rng.choices(names, weights)[0]
        fn, _, allowed = ACTIONS[name]
        finals = 0
        try:
            code, detail = fn(rng)
            finals += 1
        except grpc.RpcError as e:
            code, detail = e.code(), e.details()
            finals += 1
        except AssertionError as e:
            code, detail = None, f"assertion: {e}"
            finals += 1
        with lock:
            requests += 1
            answers[(name, code.name if code else "ASSERT")] += 1
            if finals != 1 or (code not in allowed and code != C.RESOURCE_EXHAUSTED):
                problems.append(f"{name}: {code} {detail}")

kills = 0
def killer():
    global kills
    rng = random.Random(7)
    while time.time() < stop_at - 2:
        time.sleep(rng.uniform(2, 6))
        children = subprocess.run(["pgrep", "-P", str(server.pid)], capture_output=True, text=True).stdout.split()
        if children:
            try:
                os.kill(int(rng.choice(children)), signal.SIGKILL)
                kills += 1
            except ProcessLookupError:  # that worker was just replaced
                pass

samples = []  # (t, rss_kib, fds)
def monitor():
    t0 = time.time()
    while time.time() < stop_at:
        with open(f"/proc/{server.pid}/status") as f:
            rss = int(next(l for l in f if l.startswith("VmRSS")).split()[1])
        samples.append((time.time() - t0, rss, len(os.listdir(f"/proc/{server.pid}/fd"))))
        time.sleep(1)

threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
threads += [threading.Thread(target=killer), threading.Thread(target=monitor)]
t_start = time.time()
for t in threads:
    t.start()
for t in threads:
    t.join()
elapsed = time.time() - t_start

time.sleep(3)  # let replaced workers settle
status = health(b"", timeout=5)
healthy = status == b"\x08\x01"
fds_end = len(os.listdir(f"/proc/{server.pid}/fd"))
third = max(1, len(samples) // 3)
warm = samples[third:2 * third] if len(samples) >= 3 else samples
first_rss = max(s[1] for s in samples[:third])
last_rss = max(s[1] for s in samples[-third:])
peak_rss = max(s[1] for s in samples)
fds_warm = max(s[2] for s in warm)
server.send_signal(signal.SIGTERM)
exit_code = server.wait(timeout=60)

print(f"soak: {elapsed:.0f} s, {clients} clients, {workers} workers, {requests} requests, {kills} workers SIGKILLed")
for (name, code), n in sorted(answers.items()):
    print(f"  {name:15s} {code:18s} {n:6d}")
print(f"  final answers: {sum(answers.values())} for {requests} requests; problems: {len(problems)}")
print(f"  server RSS: first third max {first_rss / 1024:.1f} MiB, last third max {last_rss / 1024:.1f} MiB, "
      f"peak {peak_rss / 1024:.1f} MiB")
print(f"  fds: warm {fds_warm}, end {fds_end}; health {'SERVING' if healthy else status!r}; SIGTERM exit {exit_code}")
for p in problems[:20]:
    print("  PROBLEM", p)
for n in sorted(set(verdict_notes)):
    print(f"  note: valid case judged FAIL (reproduce in-process: mhc-verify decompose '{n}' --backend emulated)")
failed = []
if problems: failed.append("requests with a wrong or missing answer")
if sum(answers.values()) != requests: failed.append("answers != requests")
if not healthy: failed.append("server not SERVING")
if last_rss > first_rss * 1.25 + 16 * 1024: failed.append("RSS grew after warm-up")
if fds_end > fds_warm + 4: failed.append("file descriptors leaked")
if exit_code != 0: failed.append("unclean shutdown")
print("soak:", "PASS" if not failed else "FAIL: " + "; ".join(failed))
sys.exit(1 if failed else 0)
PY
