#!/usr/bin/env bash
# gpu-multi.sh times one evaluation on one GPU and on N GPUs of one host
# (`sambaeval run ... --gpus N`: one shard process per GPU, merged at the
# end), and checks that both give the same results.
#
#   scripts/gpu-multi.sh build        build bin/sambaeval.gz (CGO-free, -tags
#                                     noembed: it reads samba-tiny from models/
#                                     of the checkout; gzipped, so that it and
#                                     the checkout travel within 64 MiB)
#   scripts/gpu-multi.sh run          on the GPU machine, from the repository
#                                     root: warm-up, 1 GPU, N GPUs, compare
#
# Settings (environment):
#   GPUS        number of GPUs of the sharded run (default 2)
#   TASKS       task list (default mmlu)
#   LIMIT       --limit (default 10: 10 questions of each of the 57 subjects)
#   MODEL_ARGS  model flags (default: a seeded random Samba_421M, which needs
#               no download; its scores are meaningless, its timing is not)
#   EXTRA_ARGS  more `sambaeval run` flags (default --batch-size 16)
#   DEVICE      cpu to try the script without a GPU (the shards then all run
#               on the CPU)
#
# Results, logs and the timing summary (gpu-multi.txt) go to $OUT, or
# out/gpu-multi without it.
set -u -o pipefail

mode=${1:-}
packed=bin/sambaeval.gz
case "$mode" in
build)
	mkdir -p bin
	CGO_ENABLED=0 go build -tags noembed -ldflags='-s -w' -o bin/sambaeval ./cmd/sambaeval || exit 1
	gzip -9 -c bin/sambaeval >"$packed" && rm bin/sambaeval
	echo "built $packed ($(du -h "$packed" | cut -f1)); on a machine with 2 GPUs, from the repository root:"
	echo "  bash scripts/gpu-multi.sh run"
	exit 0
	;;
run) ;;
*)
	echo "usage: $0 build | run" >&2
	exit 2
	;;
esac

gpus=${GPUS:-2}
tasks=${TASKS:-mmlu}
limit=${LIMIT:-10}
read -r -a model <<<"${MODEL_ARGS:---model Samba_421M --random-weights 1}"
read -r -a extra <<<"${EXTRA_ARGS:---batch-size 16}"
out=${OUT:-out/gpu-multi}
mkdir -p "$out"
export SAMBAEVAL_CACHE=${SAMBAEVAL_CACHE:-/tmp/sambaeval-cache}
summary=$out/gpu-multi.txt
: >"$summary"
say() { echo "$*" | tee -a "$summary"; }

[[ -f $packed ]] || { echo "no $packed: run '$0 build' first" >&2; exit 1; }
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader | tee -a "$summary"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bin=$work/sambaeval
gzip -d -c "$packed" >"$bin" && chmod +x "$bin" || exit 1

# timed NAME ARGS...: runs sambaeval, logs to $out/NAME.log, prints seconds.
timed() {
	local name=$1
	shift
	local start end
	start=$(date +%s.%N)
	if ! "$bin" "$@" >"$out/$name.log" 2>&1; then
		say "FAIL $name: $(tail -1 "$out/$name.log")"
		return 1
	fi
	end=$(date +%s.%N)
	echo "$start $end" | awk '{printf "%.1f", $2 - $1}'
}

common=(run "$tasks" "${model[@]}" --limit "$limit" "${extra[@]}")
one=(--device cuda:0)
many=()
if [[ ${DEVICE:-} == cpu ]]; then
	one=(--device cpu)
	many=(--device cpu)
fi
say "task $tasks, limit $limit, model ${model[*]}, ${extra[*]}"

# Warm-up: kernel compilation and the model's first load are not timed.
timed warmup "${common[@]}" --limit 1 "${one[@]}" --output-dir "$work/warm" >/dev/null || exit 1

t1=$(timed gpu1 "${common[@]}" "${one[@]}" --output-dir "$work/gpu1") || exit 1
say "1 GPU:  $t1 s"
tn=$(timed "gpu$gpus" "${common[@]}" --gpus "$gpus" "${many[@]}" --output-dir "$work/gpu$gpus") || exit 1
say "$gpus GPUs: $tn s (speed-up $(awk -v a="$t1" -v b="$tn" 'BEGIN{printf "%.2f", a / b}')×)"
grep -E '^\| ' "$out/gpu1.log" | tee -a "$summary"

cp "$work/gpu1/results.json" "$out/results-gpu1.json"
cp "$work/gpu$gpus/results.json" "$out/results-gpu$gpus.json"
"$bin" compare "$work/gpu1" "$work/gpu$gpus" >"$out/compare.txt" 2>&1
status=$?
tail -1 "$out/compare.txt" | tee -a "$summary"
case $status in
0)
	if grep -qE '\| (within tolerance|better) +\|' "$out/compare.txt"; then
		say "the $gpus-GPU results differ from the 1-GPU results, within the stderr: see compare.txt"
	else
		say "the $gpus-GPU results are identical to the 1-GPU results"
	fi
	;;
2) say "the $gpus-GPU results differ from the 1-GPU results beyond the stderr: see compare.txt" ;;
*) say "compare failed: $(tail -1 "$out/compare.txt")" ;;
esac
exit $status
