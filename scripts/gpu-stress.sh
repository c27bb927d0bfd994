#!/usr/bin/env bash
# gpu-stress.sh hunts nondeterministic GPU results: it scores the same text
# in many separate processes (fresh kernel caches, chunk sizes, both modes)
# and compares every token's log-probability with the CPU backend's, then
# runs the kernels under compute-sanitizer (racecheck, synccheck,
# initcheck, memcheck).
#
#   scripts/gpu-stress.sh build   here: .gpu/sambaeval.gz (CGO-free,
#                                 -tags noembed, gzipped), the CPU reference
#                                 .gpu/cpu-ref.json and this script
#   bash .gpu/gpu-stress.sh run   on the GPU machine, from the repository root
#
# Settings (environment): ROUNDS (default 4) rounds of the process list,
# FRESH (default 1) rounds that start with an empty kernel cache (NVRTC
# compiles in that process), SANITIZE (default 1) to run the sanitizers,
# TOKENS (default 0: all) tokens scored per process.
# Output goes to $OUT (default out/gpu-stress): stress.txt, sanitizer logs.
set -u -o pipefail

mode=${1:-}
text=models/samba-tiny/README.md
case "$mode" in
build)
	mkdir -p .gpu
	CGO_ENABLED=0 go build -tags noembed -ldflags='-s -w' -o .gpu/sambaeval ./cmd/sambaeval || exit 1
	.gpu/sambaeval score --model models/samba-tiny --device cpu --file "$text" --max-tokens "${TOKENS:-0}" --json --per-token >.gpu/cpu-ref.json || exit 1
	gzip -9 -f .gpu/sambaeval
	cp "$0" .gpu/gpu-stress.sh
	echo "built .gpu/sambaeval.gz and .gpu/cpu-ref.json; on the GPU machine: bash .gpu/gpu-stress.sh run"
	exit 0
	;;
run) ;;
*)
	echo "usage: $0 build | run" >&2
	exit 2
	;;
esac

out=${OUT:-out/gpu-stress}
mkdir -p "$out" bin
gunzip -c .gpu/sambaeval.gz >bin/sambaeval && chmod +x bin/sambaeval
summary=$out/stress.txt
: >"$summary"
say() { echo "$*" | tee -a "$summary"; }

# check NAME TOL: compare $out/NAME.json with the CPU reference token by
# token; a token differing by more than TOL counts as bad.
check() {
	python3 - "$out/$1.json" .gpu/cpu-ref.json "$1" "$2" <<'PY' | tee -a "$summary"
import json, sys
got, ref, name, tol = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3], float(sys.argv[4])
a, b = ref["logprobs"], got["logprobs"]
diff = [abs(x - y) for x, y in zip(a, b)]
bad = [i for i, d in enumerate(diff) if d > tol]
rel = abs(got["nll"] - ref["nll"]) / ref["nll"]
print(f"{name:28s} nll {got['nll']:.4f} (cpu {ref['nll']:.4f}, rel {rel:.2e})  worst token {max(diff):.2e}  bad {len(bad)} first {bad[:4]}  {'FAIL' if bad else 'ok'}")
PY
}

score() { # NAME DEVICE CHUNK [cache dir]
	local name=$1 devspec=$2 chunk=$3 cache=${4:-/tmp/sambaeval-cache}
	local t0=$SECONDS
	if ! SAMBAEVAL_CACHE=$cache bin/sambaeval score --model models/samba-tiny --device "$devspec" --file $text \
		--max-tokens "${TOKENS:-0}" --chunk-size "$chunk" --json --per-token >"$out/$name.json" 2>"$out/$name.err"; then
		say "$name: FAILED: $(tail -1 "$out/$name.err")"
		return
	fi
	local tol=1e-3
	[[ $devspec == *fp32* ]] || tol=0.25
	check "$name" $tol
	echo "   ($((SECONDS - t0)) s)" >>"$summary"
}

sanitize() {
	if ! command -v compute-sanitizer >/dev/null; then
		PATH=$PATH:/usr/local/cuda/bin
	fi
	if ! command -v compute-sanitizer >/dev/null; then
		say "compute-sanitizer not found"
		return
	fi
	for tool in racecheck synccheck initcheck memcheck; do
		for spec in "cuda:0,fp32 7" "cuda:0,fp32 100" "cuda:0 100" "cuda:0 7"; do
			set -- $spec
			log=$out/san-$tool-${1#cuda:0}-c$2.log
			SAMBAEVAL_CACHE=/tmp/sambaeval-cache timeout "${SANITIZE_TIMEOUT:-400}" compute-sanitizer --tool $tool --print-limit 30 \
				bin/sambaeval score --model models/samba-tiny --device "$1" --file $text --max-tokens 240 --chunk-size "$2" >"$log" 2>&1 &
		done
	done
	wait
	for f in "$out"/san-*.log; do
		say "$(basename "$f" .log): $(grep -m1 -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$f" || echo "no summary (timed out?)")"
	done
	grep -h -E 'hazard|Invalid|Uninitialized|Barrier|barrier' "$out"/san-*.log | sort | uniq -c | sort -rn | head -40 | tee -a "$summary"
}

command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee -a "$summary"
rounds=${ROUNDS:-4}
fresh=${FRESH:-1}
for r in $(seq 1 "$rounds"); do
	cache=/tmp/sambaeval-cache
	if ((r <= fresh)); then
		cache=$(mktemp -d)
	fi
	specs=("cuda:0,fp32 4096" "cuda:0,fp32 7" "cuda:0 4096" "cuda:0 7")
	((r == 1)) && specs+=("cuda:0,fp32 1" "cuda:0,fp32 512")
	for spec in "${specs[@]}"; do
		set -- $spec
		score "r$r-${1#cuda:0}-c$2" "$1" "$2" "$cache"
		[[ $cache == /tmp/sambaeval-cache ]] || cache=/tmp/sambaeval-cache # only the first process compiles
	done
done


if [[ ${SANITIZE:-1} == 1 ]]; then
	# the kernels are cached by the stress rounds above
	sanitize
fi
