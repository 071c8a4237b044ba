#!/usr/bin/env bash
# End-to-end tests of the built mhc-verify binary: exit codes, report files, plain output.
# Usage: cli_test.sh MHC_VERIFY SOURCE_DIR TEST_NAME
set -uo pipefail
bin=$1 src=$2 name=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

expect_exit() {  # expect_exit CODE CMD...
  local want=$1; shift
  "$@" >"$tmp/out" 2>"$tmp/err"
  local got=$?
  if [[ $got -ne $want ]]; then
    echo "FAIL: '$*' exited $got, expected $want"; cat "$tmp/out" "$tmp/err" | tail -20; exit 1
  fi
}

start_server() {  # a local `serve` on a free port: sets $port; stopped when the test exits
  "$bin" serve --listen 127.0.0.1:0 --workers 1 2>"$tmp/serve.log" &
  server=$!
  trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$tmp"' EXIT
  for _ in $(seq 100); do grep -q "listening on port" "$tmp/serve.log" && break; sleep 0.1; done
  port=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$tmp/serve.log")
  [[ -n $port ]] || { echo "the server did not start"; cat "$tmp/serve.log"; exit 1; }
}

expect_interrupted_report() {  # JSON ARGS...: SIGTERM a second into the run; 143 and a partial report
  local json=$1; shift
  "$bin" "$@" --json "$json" >"$tmp/out" 2>"$tmp/err" &
  local pid=$!
  for _ in $(seq 100); do grep -q "cases from" "$tmp/err" && break; sleep 0.1; done
  sleep 1
  kill -TERM $pid; wait $pid; local got=$?
  [[ $got -eq 143 ]] || { echo "'$*': exit $got, expected 143"; tail -5 "$tmp/err"; exit 1; }
  python3 - "$json" <<'PY' || exit 1
import json, sys
r = json.load(open(sys.argv[1]))
unfinished = [c for c in r["cases"] if "interrupted" in c["error"]]
assert unfinished and r["summary"]["passed"] > 0, r["summary"]
PY
}

case $name in
quick_sweep_passes)
  expect_exit 0 "$bin" --shapes "$src/examples/quick.yaml" --json "$tmp/r.json" --junit "$tmp/r.xml" \
    --md "$tmp/r.md" --html "$tmp/r.html"
  grep -qE '^[0-9]+ passed, 0 failed' "$tmp/out" || { echo "no summary line"; exit 1; }
  version=$("$bin" --version | awk '{print $2}')
  python3 - "$tmp/r.json" "$tmp/r.xml" "$version" <<'PY' || exit 1
import json, sys, xml.dom.minidom
r = json.load(open(sys.argv[1]))
assert r["schema_version"] == 1, r.get("schema_version")
assert r["tool_version"] == sys.argv[3], (r["tool_version"], sys.argv[3])
assert len(r["cases"]) > 100 and all("case" in c and "verdict" in c for c in r["cases"])
xml.dom.minidom.parse(sys.argv[2])
PY
  [[ -s $tmp/r.md && -s $tmp/r.html ]] || { echo "missing md/html"; exit 1; }
  ;;
plain_output_without_tty)
  NO_COLOR=1 expect_exit 0 "$bin" --shapes "$src/examples/quick.yaml" --color auto
  if grep -q $'\033' "$tmp/out" "$tmp/err"; then echo "escape codes in non-TTY output"; exit 1; fi
  ;;
mutant_fails_with_diagnosis)
  expect_exit 1 "$bin" --shapes "$src/examples/quick.yaml" --backend mutant:post_h_not_transposed
  grep -q "orientation" "$tmp/out" || { echo "no orientation diagnosis"; exit 1; }
  grep -q "reproduce: mhc-verify decompose" "$tmp/out" || { echo "no reproduce line"; exit 1; }
  ;;
malformed_yaml_is_exit_2)
  printf 'axes:\n  T: [1, 2\n' >"$tmp/bad.yaml"
  expect_exit 2 "$bin" --shapes "$tmp/bad.yaml"
  grep -q "bad.yaml:" "$tmp/err" || { echo "error does not name file:line"; exit 1; }
  ;;
unknown_preset_is_exit_2)
  printf 'axes:\n  preset: [deepseek, nope]\n  T: [1]\n  n: [4]\n  C: [8]\n' >"$tmp/bad.yaml"
  expect_exit 2 "$bin" --shapes "$tmp/bad.yaml"
  grep -qi "preset" "$tmp/err" || { echo "error does not name the preset"; exit 1; }
  ;;
absurd_shape_is_exit_2)
  printf 'axes:\n  T: [4611686018427387904]\n  n: [4]\n  C: [7168]\n' >"$tmp/bad.yaml"
  expect_exit 2 "$bin" --shapes "$tmp/bad.yaml"
  ;;
unknown_backend_is_exit_2)
  expect_exit 2 "$bin" --shapes "$src/examples/quick.yaml" --backend nope
  grep -q "unknown backend" "$tmp/err" || { echo "no clear message"; exit 1; }
  ;;
golden_dump_and_check_round_trip)
  expect_exit 0 "$bin" golden --preset deepseek --op pre -T 5 -n 3 -C 17 --seed 2 --dump "$tmp/g.safetensors"
  # The golden judged as a candidate passes: check reads the same names it writes.
  expect_exit 0 "$bin" check "$tmp/g.safetensors"
  expect_exit 0 "$bin" golden --from "$tmp/g.safetensors" --dump "$tmp/g2.safetensors"
  ;;
golden_from_applies_flags)
  expect_exit 0 "$bin" golden --op pre -T 4 -n 2 -C 8 --seed 1 --dump "$tmp/g.safetensors"
  # --set applies on top of the file's metadata; the output does not claim the file's case line.
  expect_exit 0 "$bin" golden --from "$tmp/g.safetensors" --set repeats=5 --dump "$tmp/g5.safetensors"
  python3 - "$tmp/g5.safetensors" <<'PY' || exit 1
import json, struct, sys
b = open(sys.argv[1], "rb").read()
md = json.loads(b[8:8 + struct.unpack("<Q", b[:8])[0]])["__metadata__"]
assert md["repeats"] == "5", md
assert "case" not in md and "casegen" not in md, md
PY
  expect_exit 2 "$bin" golden --from "$tmp/g.safetensors" --set repeat=5 --dump "$tmp/o.safetensors"
  grep -q 'unknown key "repeat"' "$tmp/err" || { echo "no unknown-key message"; exit 1; }
  expect_exit 2 "$bin" golden --from "$tmp/g.safetensors" -T 8 --dump "$tmp/o.safetensors"
  grep -q -- "--from excludes --tokens" "$tmp/err" || { echo "-T with --from not refused"; exit 1; }
  # A NaN in x: refused by name, as check refuses it, instead of a NaN golden.
  python3 - "$tmp/g.safetensors" "$tmp/nan.safetensors" <<'PY' || exit 1
import json, struct, sys
b = bytearray(open(sys.argv[1], "rb").read())
n = struct.unpack("<Q", b[:8])[0]
x = json.loads(b[8:8 + n])["x"]
assert x["dtype"] == "BF16"
at = 8 + n + x["data_offsets"][0]
b[at:at + 2] = b"\xc0\x7f"
open(sys.argv[2], "wb").write(b)
PY
  expect_exit 2 "$bin" golden --from "$tmp/nan.safetensors" --dump "$tmp/o.safetensors"
  grep -q "input x\[t=0, i=0, c=0\] is NaN" "$tmp/err" || { echo "NaN input not named"; exit 1; }
  expect_exit 2 "$bin" check "$tmp/g.safetensors" --set repeat=5
  ;;
self_test)
  expect_exit 0 "$bin" self-test --random 40
  grep -q "17/17 localised\|localised" "$tmp/out" || { echo "no mutant table"; exit 1; }
  ;;
shards_merge_back)
  for i in 0 1 2; do expect_exit 0 "$bin" --shapes "$src/examples/quick.yaml" --shard $i/3 --json "$tmp/s$i.json"; done
  expect_exit 0 "$bin" --shapes "$src/examples/quick.yaml" --json "$tmp/all.json"
  expect_exit 0 "$bin" merge "$tmp/s0.json" "$tmp/s1.json" "$tmp/s2.json" --json "$tmp/merged.json"
  python3 - "$tmp/all.json" "$tmp/merged.json" <<'PY' || exit 1
import json, sys
a, m = (json.load(open(p)) for p in sys.argv[1:])
assert [c["case"] for c in a["cases"]] == [c["case"] for c in m["cases"]], "merged order differs"
PY
  ;;
remote_equals_local)
  # `run --server` judges with the sweep's tolerance section and --tolerance, as a local run does,
  # and labels the report with the backend "auto" resolves to: the reports are equal apart from
  # timings and devices, exit codes included.
  start_server
  printf 'name: tol\ntolerance: {profile: baseline, overrides: {dx: {atol: 1e-12, rtol: 0}}}\ncases:\n  - pre T=13 n=4 C=64 preset=deepseek seed=1\n  - post T=13 n=4 C=64 preset=deepseek seed=1\n' >"$tmp/tol.yaml"
  for extra in "" "--tolerance assert_close_bf16"; do
    expect_exit "$( [[ -z $extra ]] && echo 1 || echo 0)" "$bin" --shapes "$tmp/tol.yaml" $extra --json "$tmp/local.json"
    expect_exit "$( [[ -z $extra ]] && echo 1 || echo 0)" "$bin" --shapes "$tmp/tol.yaml" $extra --json "$tmp/remote.json" \
      --server "127.0.0.1:$port" -j 2
    python3 - "$tmp/local.json" "$tmp/remote.json" <<'PY' || exit 1
import json, sys
def strip(r):
    r.pop("seconds", None)
    for c in r["cases"]:
        for k in ("seconds", "backend_seconds", "device"): c.pop(k, None)
    return r
local, remote = (strip(json.load(open(p))) for p in sys.argv[1:])
assert local == remote, (local, remote)
PY
  done
  ;;
bad_report_path_is_exit_2_before_running)
  # A typo'd report path costs no sweep: refused up front, naming the flag and the OS reason.
  expect_exit 2 "$bin" --shapes "$src/examples/quick.yaml" --json /nonexistent/x.json
  grep -q -- "--json /nonexistent/x.json.*No such file or directory" "$tmp/err" || { echo "no flag/reason"; exit 1; }
  grep -q "cases from" "$tmp/err" && { echo "the sweep ran"; exit 1; }
  expect_exit 2 "$bin" --shapes "$src/examples/quick.yaml" --junit "$tmp"
  grep -q -- "--junit.*Is a directory" "$tmp/err" || { echo "directory not named"; exit 1; }
  expect_exit 2 "$bin" --shapes "$src/examples/quick.yaml" --json "$tmp/same" --junit "$tmp/same"
  grep -q -- "--json and --junit name the same file" "$tmp/err" || { echo "one file for two formats"; exit 1; }
  expect_exit 2 "$bin" decompose 'pre T=1 n=4 C=8' --md /nonexistent/x.md
  expect_exit 2 "$bin" merge "$src/tests/cli/cli_test.sh" --html /nonexistent/x.html
  grep -q -- "--html" "$tmp/err" || { echo "merge did not pre-flight"; exit 1; }
  ;;
failed_report_write_keeps_the_others)
  [[ -w /dev/full ]] || { echo "SKIP: no /dev/full"; exit 0; }
  expect_exit 3 "$bin" --shapes "$src/examples/quick.yaml" --backend mutant:post_h_not_transposed \
    --json /dev/full --junit "$tmp/r.xml" --md "$tmp/r.md"
  [[ -s $tmp/r.xml && -s $tmp/r.md ]] || { echo "the other reports were lost"; exit 1; }
  grep -q -- "--json /dev/full.*No space left on device" "$tmp/err" || { echo "no reason"; exit 1; }
  grep -q "run itself exits 1" "$tmp/err" || { echo "verdict hidden"; exit 1; }
  ;;
self_test_refuses_empty_selection)
  # A typo in a CI gate must not turn it into a silent green.
  expect_exit 2 "$bin" self-test --only nope
  grep -q "post_h_not_transposed" "$tmp/err" || { echo "valid names not listed"; exit 1; }
  expect_exit 2 "$bin" self-test --random -5
  expect_exit 2 "$bin" self-test --jobs 0
  ;;
bad_input_to_check_and_decompose_is_exit_2)
  # The verifier turns a bad case into an error verdict; its kind, not the verdict, picks 2 over 3.
  expect_exit 2 "$bin" decompose 'pre T=1 n=6 C=8 preset=lite' --json "$tmp/d.json"
  grep -q '"error_kind": "invalid_input"' "$tmp/d.json" || { echo "no error_kind in the JSON"; exit 1; }
  expect_exit 0 "$bin" golden --preset deepseek --op pre -T 5 -n 3 -C 17 --seed 2 --dump "$tmp/g.safetensors"
  expect_exit 2 "$bin" check "$tmp/g.safetensors" --op post
  # A file refused before the verifier runs still leaves the report a CI job reads.
  expect_exit 2 "$bin" check "$tmp/g.safetensors" --phi-layout KM --json "$tmp/c.json"
  grep -q '"error_kind": "invalid_input"' "$tmp/c.json" || { echo "no error row in the check JSON"; exit 1; }
  grep -q 'phi-layout' "$tmp/c.json" || { echo "the error does not name the flag"; exit 1; }
  expect_exit 2 "$bin" check "$tmp/g.safetensors" --precision fp8
  expect_exit 2 "$bin" decompose 'pre T=5 n=3 C=17 preset=deepseek' --backend emulated --precision tf32
  grep -q "pipe:/exec:" "$tmp/err" || { echo "--precision on a built-in backend not explained"; exit 1; }
  expect_exit 2 "$bin" decompose 'pre T=5 n=3 C=17 preset=deepseek' --backend emulated --call-timeout 5
  expect_exit 0 "$bin" check "$tmp/g.safetensors" --precision tf32 --json "$tmp/t.json"
  grep -q '"baseline": "emulated:tf32+reorder' "$tmp/t.json" || { echo "--precision did not pick the baseline"; exit 1; }
  ;;
reproduce_lines_reproduce)
  # A reproduce line run from another directory judges as the run did: same file, flags, tolerance.
  reproduce() { grep -m1 'reproduce: ' "$tmp/out" | sed 's/.*reproduce: mhc-verify //'; }
  printf 'axes: {T: [4], n: [4], C: [16], op: pre}\ntolerance: {overrides: {dx: {atol: 1e-9, rtol: 0}}}\n' >"$tmp/ov.yaml"
  (cd "$tmp" && expect_exit 1 "$bin" --shapes ov.yaml)
  line=$(reproduce)
  (cd / && eval expect_exit 1 "$bin" "$line") || { echo "sweep override line passed: $line"; exit 1; }
  expect_exit 1 "$bin" --shapes "$src/examples/quick.yaml" --backend mutant:post_h_not_transposed --tolerance mhc_public_5e-2
  line=$(reproduce)
  [[ $line == *tol=mhc_public_5e-2* ]] || { echo "profile missing: $line"; exit 1; }
  eval expect_exit 1 "$bin" "$line"
  expect_exit 0 "$bin" golden --preset deepseek --op pre -T 5 -n 3 -C 17 --seed 2 --dump "$tmp/g.safetensors"
  (cd "$tmp" && expect_exit 1 "$bin" check g.safetensors --set post_mult=1 --tolerance mhc_public_5e-2)
  line=$(reproduce)
  [[ $line == *"'$tmp/g.safetensors' --set 'post_mult=1' --tolerance 'mhc_public_5e-2'" ]] || { echo "check line: $line"; exit 1; }
  (cd / && eval expect_exit 1 "$bin" "$line") || { echo "check line did not reproduce: $line"; exit 1; }
  ;;
run_case_selects_by_case_line)
  expect_exit 0 "$bin" --shapes "$src/examples/quick.yaml" --case 'pre T=13 n=4 C=64 preset=deepseek dist=zero_rows seed=0'
  grep -qE '^1 passed, 0 failed' "$tmp/out" || { echo "not exactly one case"; exit 1; }
  expect_exit 2 "$bin" --shapes "$src/examples/quick.yaml" --case 'pre T=12345 n=4 C=64'
  grep -q "no such case" "$tmp/err" || { echo "unmatched --case not named"; exit 1; }
  ;;
random_reports_what_ran)
  RC_PARAMS=max_success=2 expect_exit 0 "$bin" run --random 50 --json "$tmp/r.json"
  grep -qE '^2 passed, 0 failed' "$tmp/out" || { echo "summary does not count the cases RapidCheck ran"; exit 1; }
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["summary"]["passed"] == 2, r["summary"]' "$tmp/r.json" || exit 1
  for flags in "--shapes $src/examples/quick.yaml" "--jobs 4" "--shard 1/2"; do
    expect_exit 2 "$bin" run --random 3 $flags
  done
  # A fixed seed: with a random one, 20 draws very rarely hold no post case with an asymmetric H.
  RC_PARAMS="max_success=20 seed=1" expect_exit 1 "$bin" run --random 20 --backend mutant:post_h_not_transposed \
    --json "$tmp/m.json"
  grep -q "<???>" "$tmp/out" && { echo "counterexample not shown as a case line"; exit 1; }
  # The run's time is measured (it was reported as 0); the printed form rounds a fast run to 0.00s.
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["seconds"] > 0, r["seconds"]' "$tmp/m.json" \
    || { echo "no run time"; exit 1; }
  ;;
interrupt_writes_partial_reports)
  # SIGTERM (a background job of a script ignores SIGINT) mid-sweep: the finished cases are reported.
  expect_interrupted_report "$tmp/int.json" --shapes "$src/examples/edge.yaml"
  # The same through a server: no further case is sent, the finished ones are reported.
  start_server
  expect_interrupted_report "$tmp/rint.json" --shapes "$src/examples/edge.yaml" --server "127.0.0.1:$port" -j 1
  ;;
crash_mutant_is_refused_locally)
  expect_exit 2 "$bin" --shapes "$src/examples/quick.yaml" --backend mutant:crash_out_of_bounds
  grep -q -- "--server" "$tmp/err" || { echo "no pointer to --server"; exit 1; }
  expect_exit 2 "$bin" decompose 'pre T=1 n=4 C=8' --backend mutant:crash_out_of_bounds
  ;;
progress_without_tty_shows_passes)
  expect_exit 0 "$bin" --shapes "$src/examples/quick.yaml"
  grep -q '^\[218/218\].* PASS' "$tmp/err" || { echo "no progress line for passing cases"; exit 1; }
  ;;
unknown_command_is_named)
  expect_exit 2 "$bin" runn
  grep -q 'unknown command "runn"' "$tmp/err" || { echo "the mistyped command is not named"; exit 1; }
  ;;
slurm_stepped_array_shards)
  # --array=0-12:4 runs tasks 0, 4, 8, 12: task 8 is shard 2 of 4.
  SLURM_ARRAY_TASK_ID=8 SLURM_ARRAY_TASK_MIN=0 SLURM_ARRAY_TASK_STEP=4 SLURM_ARRAY_TASK_COUNT=4 \
    expect_exit 0 "$bin" --shapes "$src/examples/quick.yaml" --list
  SLURM_ARRAY_TASK_ID=8 SLURM_ARRAY_TASK_MIN=0 SLURM_ARRAY_TASK_STEP=4 SLURM_ARRAY_TASK_COUNT=4 \
    expect_exit 0 "$bin" --shapes "$src/examples/quick.yaml" --json "$tmp/s.json"
  grep -q "shard 2/4" "$tmp/err" || { echo "not shard 2/4"; exit 1; }
  ;;
golden_negative_seed_is_exit_2)
  expect_exit 2 "$bin" golden --preset deepseek --op pre -T 5 -n 3 -C 17 --seed -1 --dump "$tmp/g.safetensors"
  grep -q "whole number in \[0, 2^64)" "$tmp/err" || { echo "unclear seed message"; exit 1; }
  expect_exit 2 "$bin" golden --preset deepseek --op pre -T 5 -n 3 -C 17 --seed 18446744073709551616 --dump "$tmp/g.safetensors"
  expect_exit 0 "$bin" golden --preset deepseek --op pre -T 5 -n 3 -C 17 --seed 18446744073709551615 --dump "$tmp/g.safetensors"
  ;;
check_a_torch_implementation)
  # docs/check.md's workflow: golden --dump gives the inputs, examples/check_torch.py writes a
  # PyTorch implementation's results (autograd backward), check judges them. Every map and
  # orientation passes; the two bugs it can reproduce fail with their BUGS.md diagnosis.
  /usr/bin/python3 -c 'import torch, numpy' 2>/dev/null || { echo "SKIP: no torch/numpy"; exit 77; }
  torch_check() {  # WANT_EXIT DIAGNOSIS GOLDEN_ARGS... [-- EXAMPLE_ARGS...]
    local want=$1 diagnosis=$2; shift 2
    local golden=() example=()
    while [[ $# -gt 0 && $1 != -- ]]; do golden+=("$1"); shift; done
    [[ $# -gt 0 ]] && shift && example=("$@")
    expect_exit 0 "$bin" golden "${golden[@]}" --dump "$tmp/case.safetensors"
    /usr/bin/python3 "$src/examples/check_torch.py" "$tmp/case.safetensors" "$tmp/mine.safetensors" "${example[@]}" \
      >/dev/null || { echo "check_torch.py failed on ${golden[*]}"; exit 1; }
    expect_exit "$want" "$bin" check "$tmp/mine.safetensors"
    [[ -z $diagnosis ]] || grep -q "diagnosis: $diagnosis" "$tmp/out" || { echo "no $diagnosis diagnosis"; cat "$tmp/out"; exit 1; }
  }
  for preset in deepseek mhc_ops lite paper; do
    torch_check 0 "" --preset "$preset" --op pre -T 13 -n 4 -C 64 --seed 3
    torch_check 0 "" --preset "$preset" --op post -T 13 -n 4 -C 64 --seed 3
  done
  torch_check 0 "" --preset lite --op pre -T 9 -n 3 -C 40 --seed 1 --set merged_residual=true --set use_gamma=true
  torch_check 0 "" --preset deepseek --op pre -T 37 -n 3 -C 100 --seed 5 --dist near_zero_rows --set repeats=3
  # Rows near the top of the bf16 range: the inverse RMS's gradient must not underflow.
  for preset in deepseek mhc_ops lite paper; do
    torch_check 0 "" --preset "$preset" --op pre -T 9 -n 5 -C 33 --seed 1 --dist large
  done
  torch_check 1 sinkhorn_forward --preset deepseek --op pre -T 37 -n 3 -C 100 --seed 5 --dist wide_logits \
    --set repeats=3 -- --bug sinkhorn_r_minus_1
  torch_check 1 orientation --preset deepseek --op post -T 13 -n 4 -C 64 --seed 3 -- --bug orientation
  # The Triton example runs only on a GPU host (docs/check.md has its H100 results); here it must parse.
  /usr/bin/python3 -m py_compile "$src/examples/triton_mhc_post.py" || { echo "triton_mhc_post.py does not compile"; exit 1; }
  # The same script as an exec backend runs every case of a sweep, and the bug is diagnosed there too.
  printf 'name: torch\ncases:\n  - pre T=9 n=3 C=40 preset=deepseek seed=1\n  - post T=9 n=3 C=40 preset=deepseek seed=1\n' \
    >"$tmp/torch.yaml"
  expect_exit 0 "$bin" --shapes "$tmp/torch.yaml" --backend "exec:/usr/bin/python3 $src/examples/check_torch.py"
  grep -qE '^2 passed, 0 failed' "$tmp/out" || { echo "exec sweep: not 2 passed"; cat "$tmp/out"; exit 1; }
  # pipe: one process per thread serves every call: the whole quick sweep in seconds.
  expect_exit 0 "$bin" --shapes "$src/examples/quick.yaml" --jobs 2 --backend "pipe:/usr/bin/python3 $src/examples/check_torch.py"
  grep -qE '^206 passed, 0 failed, 12 skipped' "$tmp/out" || { echo "pipe sweep: not the quick sweep's counts"; tail -3 "$tmp/out"; exit 1; }
  expect_exit 1 "$bin" --shapes "$tmp/torch.yaml" --backend "pipe:/usr/bin/python3 $src/examples/check_torch.py --bug orientation"
  grep -q "diagnosis: orientation" "$tmp/out" || { echo "pipe sweep: no orientation diagnosis"; cat "$tmp/out"; exit 1; }
  expect_exit 2 "$bin" --shapes "$tmp/torch.yaml" --backend "exec:true" --server 127.0.0.1:1
  grep -q "cannot be sent to a server" "$tmp/err" || { echo "exec with --server not refused"; cat "$tmp/err"; exit 1; }
  ;;
check_a_file_of_both_ops)
  # A layer's pre and post in one file (DESIGN.md "Tensor interchange": names prefixed pre./post.):
  # two golden dumps merged byte for byte under prefixed names, judged as two cases.
  expect_exit 0 "$bin" golden --preset deepseek --op pre -T 5 -n 3 -C 17 --seed 2 --dump "$tmp/pre.safetensors"
  expect_exit 0 "$bin" golden --preset deepseek --op post -T 5 -n 3 -C 17 --seed 2 --dump "$tmp/post.safetensors"
  python3 - "$tmp/pre.safetensors" "$tmp/post.safetensors" "$tmp/both.safetensors" <<'PY' || exit 1
import json, struct, sys
header, blobs, offset, metadata = {}, [], 0, {}
for op, path in (("pre", sys.argv[1]), ("post", sys.argv[2])):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    h = json.loads(raw[8:8 + n])
    metadata.update(h.pop("__metadata__"))
    for name, info in h.items():
        begin, end = info["data_offsets"]
        header[op + "." + name] = {"dtype": info["dtype"], "shape": info["shape"],
                                   "data_offsets": [offset, offset + end - begin]}
        blobs.append(raw[8 + n + begin:8 + n + end])
        offset += end - begin
del metadata["op"]
header["__metadata__"] = metadata
text = json.dumps(header).encode()
text += b" " * (-len(text) % 8)
open(sys.argv[3], "wb").write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
PY
  expect_exit 0 "$bin" check "$tmp/both.safetensors"
  grep -qE '^2 passed, 0 failed' "$tmp/out" || { echo "not two cases"; cat "$tmp/out"; exit 1; }
  expect_exit 0 "$bin" check "$tmp/both.safetensors" --op post
  grep -qE '^1 passed, 0 failed' "$tmp/out" || { echo "--op did not select one"; cat "$tmp/out"; exit 1; }
  expect_exit 0 "$bin" check "$tmp/both.safetensors" --json "$tmp/both.json"
  grep -q "both.safetensors' --op pre" "$tmp/both.json" && grep -q "both.safetensors' --op post" "$tmp/both.json" \
    || { echo "the reproduce lines do not select their op"; exit 1; }
  expect_exit 2 "$bin" golden --from "$tmp/both.safetensors" --dump "$tmp/g2.safetensors"
  grep -q "holds both ops" "$tmp/err" || { echo "golden --from did not ask for --op"; cat "$tmp/err"; exit 1; }
  ;;
*) echo "unknown test $name"; exit 2 ;;
esac
echo "PASS $name"
