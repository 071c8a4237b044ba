#!/usr/bin/env bash
# The two-GPU check of issue 7 on one host (docs/deploy.md "Several GPUs"), with a bundle from
# scripts/bundle.sh holding mhc-verify:
#   1. the 200-case sweep (sweep200.yaml) through `serve --devices 0` and `serve --devices 0,1`,
#      alternated twice: wall time of each run, speed-up = one-GPU time / two-GPU time;
#   2. the reports of both: same verdicts and the same error figures, case by case;
#   3. a fault: while the two-GPU server runs the sweep, a second client sends cases to the
#      crashing mutant (a backend that writes out of bounds and dies); those cases must come back
#      as `crash`, every sweep case as before, and the server must answer the next request.
# Results and logs go to $OUT (default ./multi-gpu-out). Usage: bench/multi_gpu/run.sh [BUNDLE]
set -uo pipefail
cd "$(dirname "$0")/../.."
bundle="${1:-bundle}"
out="${OUT:-$PWD/multi-gpu-out}"
mkdir -p "$out"
mv_() { "$bundle/run" mhc-verify "$@"; }
nvidia-smi -L

serve() {  # serve PORT DEVICES: starts a server, waits until it listens
  # Not through mv_: a function run in the background is a subshell, and $! would be its pid, so
  # stop() would signal the subshell and leave the server running (and its port taken).
  "$bundle/run" mhc-verify serve --listen "127.0.0.1:$1" --devices "$2" --name "gpus-$2" >"$out/serve-$1.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do grep -q "listening" "$out/serve-$1.log" && return 0; sleep 0.1; done
  echo "server on $1 did not start"; cat "$out/serve-$1.log"; exit 1
}
stop() { kill -TERM "$server_pid"; wait "$server_pid"; }
sweep() {  # sweep PORT NAME: runs the 200 cases, prints the wall time
  local start=$(date +%s%N)
  mv_ run --server "127.0.0.1:$1" -j 4 --shapes bench/multi_gpu/sweep200.yaml --backend cuda \
    --json "$out/$2.json" >"$out/$2.log" 2>&1
  local rc=$? ms=$(( ($(date +%s%N) - start) / 1000000 ))
  echo "$2: rc $rc, $ms ms, $(tail -n 1 "$out/$2.log")"
  echo "$ms" >"$out/$2.ms"
}

for round in 1 2; do
  serve 50071 0;   sweep 50071 "one-gpu-$round"; stop
  serve 50072 0,1; sweep 50072 "two-gpu-$round"; stop
done

serve 50073 0,1
cat >"$out/crash.yaml" <<'YAML'
name: crash
axes: {op: [pre, post], preset: deepseek, n: 4, C: 256, T: 64, seed: [0, 1, 2, 3]}
YAML
mv_ run --server 127.0.0.1:50073 --shapes "$out/crash.yaml" --backend mutant:crash_out_of_bounds \
  --json "$out/crash.json" >"$out/crash.log" 2>&1 &
crash_pid=$!
sweep 50073 "two-gpu-fault"
wait "$crash_pid"
echo "crash client: $(tail -n 1 "$out/crash.log")"
# The server after the fault: a new request is answered as usual.
printf 'name: after\ncases:\n  - pre T=13 n=4 C=1024 preset=deepseek seed=7\n' >"$out/after.yaml"
mv_ run --server 127.0.0.1:50073 --shapes "$out/after.yaml" --backend cuda >"$out/after.log" 2>&1
echo "after the fault: rc $?, $(tail -n 1 "$out/after.log")"
stop

python3 - "$out" <<'PY'
import json, sys, statistics
out = sys.argv[1]
def load(name):
    return {c["case"]: c for c in json.load(open(f"{out}/{name}.json"))["cases"]}
def figures(c):
    return (c["verdict"], json.dumps(c["tensors"], sort_keys=True))
ref = load("one-gpu-1")
for name in ["one-gpu-2", "two-gpu-1", "two-gpu-2", "two-gpu-fault"]:
    other = load(name)
    same = sum(figures(ref[k]) == figures(other.get(k, {"verdict": None, "tensors": None})) for k in ref)
    devices = sorted({c["device"] for c in other.values()})
    print(f"{name}: {same}/{len(ref)} cases identical to one-gpu-1 (verdict and every error figure); devices {devices}")
print("verdicts one-gpu-1:", {v: sum(c["verdict"] == v for c in ref.values()) for v in {c["verdict"] for c in ref.values()}})
crash = json.load(open(f"{out}/crash.json"))["cases"]
print("crash client verdicts:", [c["verdict"] for c in crash], "devices", sorted({c["device"] for c in crash}))
ms = {n: int(open(f"{out}/{n}.ms").read()) for n in ["one-gpu-1", "one-gpu-2", "two-gpu-1", "two-gpu-2"]}
for r in (1, 2):
    print(f"round {r}: one GPU {ms[f'one-gpu-{r}']/1000:.2f} s, two GPUs {ms[f'two-gpu-{r}']/1000:.2f} s, "
          f"speed-up {ms[f'one-gpu-{r}']/ms[f'two-gpu-{r}']:.2f}x")
PY
