#!/usr/bin/env bash
# gpu-test.sh builds the CUDA backend's test binary and runs it on a GPU
# machine. The binary is CGO-free and static apart from the C library; the
# kernels are embedded CUDA C that NVRTC compiles on first use.
#
#   scripts/gpu-test.sh build [DIR]   build DIR/cuda.test (default .gpu) and
#                                     copy this script beside it; prints the
#                                     command to run on the GPU machine
#   DIR/gpu-test.sh test              on the GPU machine: every test, each in
#                                     its own process (a device fault cannot
#                                     take the others down)
#   DIR/gpu-test.sh bench             on the GPU machine: the Samba_3.8B
#                                     benchmark of docs/performance-gpu.md
#   DIR/gpu-test.sh poison            on the GPU machine: the model and
#                                     attention tests again with every
#                                     allocation filled with NaN
#                                     (SAMBAEVAL_CUDA_POISON=1): a kernel that
#                                     reads memory nothing wrote fails them
#   DIR/gpu-test.sh all               test and poison, then bench if every
#                                     test passed
#
# SANITIZE=1 runs a failing test again under compute-sanitizer (memcheck);
# that can take minutes per test.
# On the GPU machine logs go to $OUT (or DIR/out): tests.log, bench.txt.
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
test | poison | bench | all) ;;
*)
	echo "usage: $0 build [DIR] | test | poison | bench | all" >&2
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
	for t in $("$bin" -test.list '^Test' | grep -vE '^(TestBench|TestKernelsCompile)'); do
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
	for t in TestTinyParity TestTinyStreaming TestRandom421M TestDecodeGraph TestAttention TestMamba TestSambaYParity; do
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

case "$mode" in
test) run_tests ;;
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
