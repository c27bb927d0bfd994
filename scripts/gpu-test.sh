#!/usr/bin/env bash
# gpu-test.sh builds the CUDA backend's test binary and runs it on a GPU
# machine. The binary is CGO-free and static apart from the C library; the
# kernels are embedded CUDA C that NVRTC compiles on first use.
#
#   scripts/gpu-test.sh build [DIR]   build DIR/cuda.test (default .gpu) and
#                                     copy this script beside it; prints the
#                                     command to run on the GPU machine
#   DIR/gpu-test.sh test [RE]         on the GPU machine: every test (or those
#                                     matching RE), each in its own process
#                                     (a device fault cannot take the
#                                     others down)
#   DIR/gpu-test.sh bench             on the GPU machine: the Samba_3.8B
#                                     benchmark of docs/performance-gpu.md
#   DIR/gpu-test.sh poison            on the GPU machine: the model and
#                                     attention tests again with every
#                                     allocation filled with NaN
#                                     (SAMBAEVAL_CUDA_POISON=1): a kernel that
#                                     reads memory nothing wrote fails them
#   DIR/gpu-test.sh decode            on the GPU machine: greedy decoding
#                                     alone at batch 1 and 16, the default
#                                     and each variant side by side (~40 s;
#                                     SAMBAEVAL_DECODE_VARIANTS=N: the
#                                     first N, 0: the default alone;
#                                     decode.txt)
#   DIR/gpu-test.sh profile           on the GPU machine: ncu's duration of
#                                     every kernel of one recorded decoding
#                                     step at batch 1 and at batch 16
#                                     (profile-b1.txt, profile-b16.txt)
#   DIR/gpu-test.sh timeline          on the GPU machine: decode with the
#                                     kernels compiled with a trace: what
#                                     each kernel cost 8 recorded steps at
#                                     batch 1 and 16, overlap included
#                                     (timeline.txt)
#   DIR/gpu-test.sh kernel RE [B]     on the GPU machine: ncu's detailed
#                                     sections (speed of light, memory,
#                                     occupancy, warp stalls) for the first
#                                     kernel matching RE in one recorded
#                                     decoding step at batch B (default 1)
#   DIR/gpu-test.sh designs           on the GPU machine: the benchmarks of
#                                     designs rather than of the backend
#                                     (TestChainPattern, the persistent
#                                     step's skeleton; TestStreamPattern;
#                                     TestBoundaryCost) and TestBenchReport
#                                     (sambaeval bench against decode; about
#                                     2 minutes; designs.txt)
#   DIR/gpu-test.sh all               test and poison, then bench if every
#                                     test passed
#
# SANITIZE=1 runs a failing test again under compute-sanitizer (memcheck);
# that can take minutes per test.
# On the GPU machine logs go to $OUT (or DIR/out): tests.log, bench.txt,
# decode.txt, profile-b*.txt, kernel-*.txt.
# Run it from the repository root there (the tests read models/samba-tiny).
set -u -o pipefail

mode=${1:-build}
case "$mode" in
build)
	dir=${2:-.gpu}
	mkdir -p "$dir"
	CGO_ENABLED=0 go test -c -o "$dir/cuda.test" -ldflags='-s -w' ./kernels/cuda/ || exit 1
	cp "$0" "$dir/gpu-test.sh"
	echo "built $dir/cuda.test ($(du -h "$dir/cuda.test" | cut -f1)); on the GPU machine, from the repository root:"
	echo "  bash $dir/gpu-test.sh all"
	exit 0
	;;
test | poison | bench | decode | profile | timeline | kernel | designs | all) ;;
*)
	echo "usage: $0 build [DIR] | test [RE] | poison | bench | decode | profile | timeline | kernel RE [B] | designs | all" >&2
	exit 2
	;;
esac

dir=$(cd "$(dirname "$0")" && pwd)
out=${OUT:-$dir/out}
mkdir -p "$out"
export SAMBAEVAL_CACHE=${SAMBAEVAL_CACHE:-/tmp/sambaeval-cache}
bin=$dir/cuda.test

run_tests() {
	local log=$out/tests.log fail=0 t
	: >"$log"
	command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv,noheader | tee -a "$log"
	# TestKernelsCompile is for machines without a GPU: here opening the
	# backend compiles the same source.
	for t in $("$bin" -test.list '^Test' | grep -vE '^(TestBench|TestKernelsCompile|TestDecodeBench)' | grep -E "${1:-.}"); do
		local start=$SECONDS
		echo "=== $t" >>"$log"
		if timeout 300 "$bin" -test.run "^$t\$" -test.v -test.timeout 290s >"$out/one.log" 2>&1; then
			echo "ok   $t ($((SECONDS - start)) s)"
			grep -E 'perplexity|chunk [0-9]+:|opened|SKIP' "$out/one.log" | sed 's/^/     /' | head -12
		else
			fail=1
			echo "FAIL $t ($((SECONDS - start)) s)"
			grep -vE '^(=== RUN|=== PAUSE|=== CONT)' "$out/one.log" | tail -40 | sed 's/^/     /'
			if [[ ${SANITIZE:-0} == 1 ]] && command -v compute-sanitizer >/dev/null && [[ $t != TestRandom421M && $t != TestTinyStreaming ]]; then
				echo "--- compute-sanitizer memcheck $t" >>"$log"
				timeout 240 compute-sanitizer --tool memcheck --print-limit 20 "$bin" -test.run "^$t\$" -test.short >>"$log" 2>&1
				grep -m 8 -E 'Invalid|ERROR SUMMARY|at 0x' "$log" | sed 's/^/     sanitizer: /'
			fi
		fi
		cat "$out/one.log" >>"$log"
	done
	rm -f "$out/one.log"
	return $fail
}

# poison_tests reruns the tests that run whole models (and attention, whose
# paths use the most scratch memory) with NaN-filled allocations.
poison_tests() {
	local fail=0 t
	for t in TestTinyParity TestTinyStreaming TestRandom421M TestDecodeGraph TestDecodeBatch16 TestDecodeKVBF16 TestAttention TestMamba TestSambaYParity TestSambaYKVBF16; do
		local start=$SECONDS
		echo "=== $t (poisoned allocations)" >>"$out/tests.log"
		if SAMBAEVAL_CUDA_POISON=1 timeout 300 "$bin" -test.run "^$t\$" -test.v -test.timeout 290s >"$out/one.log" 2>&1; then
			echo "ok   $t, poisoned ($((SECONDS - start)) s)"
		else
			fail=1
			echo "FAIL $t, poisoned ($((SECONDS - start)) s)"
			grep -vE '^(=== RUN|=== PAUSE|=== CONT)' "$out/one.log" | tail -20 | sed 's/^/     /'
		fi
		cat "$out/one.log" >>"$out/tests.log"
	done
	rm -f "$out/one.log"
	return $fail
}

run_bench() {
	SAMBAEVAL_CUDA_BENCH=1 SAMBAEVAL_BENCH_OUT=$out/bench.txt SAMBAEVAL_BENCH_PPROF=$out/decode.pprof timeout 580 "$bin" -test.run '^TestBenchH200$' -test.v -test.timeout 570s 2>&1 | tee "$out/bench.log" | grep -vE '^(=== RUN)'
}

run_decode() {
	SAMBAEVAL_CUDA_DECODE=1 SAMBAEVAL_BENCH_OUT=$out/decode.txt timeout 300 "$bin" -test.run '^TestDecodeBench$' -test.v -test.timeout 290s 2>&1 | grep -vE '^(=== RUN)'
}

# run_profile times every kernel of one recorded decoding step with Nsight
# Compute (kernels serialised, caches and clocks left alone) and sums the
# durations per kernel.
run_profile() {
	local b
	for b in 1 16; do
		SAMBAEVAL_CUDA_DECODE=1 SAMBAEVAL_CUDA_PROFILE_RANGE=1 SAMBAEVAL_DECODE_BATCH=$b timeout 400 \
			ncu --profile-from-start off --clock-control none --cache-control none --metrics gpu__time_duration.sum --csv \
			"$bin" -test.run '^TestDecodeBench$' -test.timeout 390s >"$out/ncu-b$b.csv" 2>"$out/ncu-b$b.err"
		python3 - "$out/ncu-b$b.csv" "$b" <<'PY' | tee "$out/profile-b$b.txt"
import csv, sys, collections
rows = [r for r in csv.reader(open(sys.argv[1])) if len(r) > 10]
head = rows[0]; rows = rows[1:]
ki, ui, vi = head.index("Kernel Name"), head.index("Metric Unit"), head.index("Metric Value")
scale = {"nsecond": 1e-3, "ns": 1e-3, "usecond": 1.0, "us": 1.0, "msecond": 1e3, "ms": 1e3}
tot = collections.OrderedDict(); cnt = collections.Counter(); all_us = 0.0
for r in rows:
    name = r[ki].split("(")[0].split("<")[0].replace("void ", "")
    us = float(r[vi].replace(",", "")) * scale[r[ui]]
    tot[name] = tot.get(name, 0.0) + us; cnt[name] += 1; all_us += us
print(f"batch {sys.argv[2]}: {len(rows)} kernels, {all_us:.1f} µs of kernel time (ncu, serialised)")
for name, us in sorted(tot.items(), key=lambda kv: -kv[1]):
    print(f"  {name:32s} {cnt[name]:4d} calls {us:9.1f} µs {100*us/all_us:5.1f}%  {us/cnt[name]:7.2f} µs/call")
PY
	done
}

# run_designs runs the benchmarks of designs and bench's check, each in
# its own process.
run_designs() {
	local t fail=0
	: >"$out/designs.txt"
	for t in TestChainPattern TestStreamPattern TestBoundaryCost TestBenchReport; do
		SAMBAEVAL_CUDA_DECODE=1 timeout 300 "$bin" -test.run "^$t\$" -test.v -test.timeout 290s 2>&1 | grep -vE '^(=== RUN)' | tee -a "$out/designs.txt"
		[[ ${PIPESTATUS[0]} == 0 ]] || fail=1
	done
	return $fail
}

# run_timeline compiles the kernels with the timeline trace and reports,
# for 8 recorded decoding steps at batch 1 and 16, what each kernel cost the
# step (TestDecodeBench, trace_test.go).
run_timeline() {
	# The default alone unless SAMBAEVAL_DECODE_ONLY or _VARIANTS say more.
	[[ -z ${SAMBAEVAL_DECODE_ONLY:-} ]] && export SAMBAEVAL_DECODE_VARIANTS=${SAMBAEVAL_DECODE_VARIANTS:-0}
	SAMBAEVAL_CUDA_TRACE=1 SAMBAEVAL_CUDA_DECODE=1 SAMBAEVAL_BENCH_OUT=$out/timeline.txt \
		timeout 300 "$bin" -test.run '^TestDecodeBench$' -test.v -test.timeout 290s 2>&1 | grep -vE '^(=== RUN)'
}

# run_kernel prints ncu's detailed sections for the first kernel matching
# $1 in one recorded decoding step at batch ${2:-1}.
run_kernel() {
	SAMBAEVAL_CUDA_DECODE=1 SAMBAEVAL_CUDA_PROFILE_RANGE=1 SAMBAEVAL_DECODE_BATCH=${2:-1} timeout 400 \
		ncu --profile-from-start off --clock-control none --cache-control none -k "regex:$1" -c 1 \
		--section SpeedOfLight --section MemoryWorkloadAnalysis --section Occupancy --section WarpStateStats --section LaunchStats \
		"$bin" -test.run '^TestDecodeBench$' -test.timeout 390s 2>&1 | grep -vE '^(=== RUN|decode,|device:|    decodebench)' | tee "$out/kernel-$1-b${2:-1}.txt"
}

case "$mode" in
test) run_tests "${2:-}" ;;
kernel) run_kernel "${2:?kernel regex}" "${3:-1}" ;;
decode) run_decode ;;
profile) run_profile ;;
timeline) run_timeline ;;
designs) run_designs ;;
poison) poison_tests ;;
bench) run_bench ;;
all)
	run_tests
	ok=$?
	poison_tests || ok=1
	if [[ $ok == 0 ]]; then
		echo "all tests passed; benchmark:"
		run_bench
	else
		echo "tests failed; benchmark not run"
		exit 1
	fi
	;;
esac
