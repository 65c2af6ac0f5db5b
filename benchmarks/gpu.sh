#!/usr/bin/env bash
# Every GPU check of the project in one go, for a short lease of a GPU machine: the tests that need
# CUDA, then benchmarks/regions.py, benchmarks/packing.py and benchmarks/study.py, each under its own
# time limit so that one slow step leaves the others their time. Each step's whole output goes to
# DIR/<step>.log, and the study's per-job times to DIR/study_jobs.tsv even where it runs out of time.
#
# Run from the project root: bash benchmarks/gpu.sh [DIR]   (DIR: $OUT if set, else results/gpu)
# On a machine without a package index, start with `source .whl/env.sh &&` (README: A whole study on
# a GPU).
# Limits in seconds can be set with TESTS_S, REGIONS_S, PACKING_S and STUDY_S.
set -u
out=${1:-${OUT:-results/gpu}}
mkdir -p "$out"
python=${PYTHON:-python3}
study_dir=$(mktemp -d /tmp/deepstudy-study-XXXX)

step() {  # step NAME SECONDS COMMAND...: run it under a limit, log it whole, show its tail
  local name=$1 limit=$2 started=$SECONDS
  shift 2
  echo "== $name (limit ${limit} s)"
  timeout --signal=INT --kill-after=15 "$limit" "$@" >"$out/$name.log" 2>&1
  echo "-- $name: exit $? after $((SECONDS - started)) s"
  tail -n 30 "$out/$name.log"
}

{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  nproc
  $python -c "import torch, numba, numpy; print('torch', torch.__version__, 'numba', numba.__version__, 'numpy', numpy.__version__)"
} 2>&1 | tee "$out/machine.txt"

step cuda_tests "${TESTS_S:-90}" $python -m pytest -q -p no:cacheprovider \
  "tests/regions/test_planes.py::test_cuda_planes_are_counted_on_cuda" \
  "tests/core/test_graphs.py::test_on_a_gpu_a_graphed_pack_trains_as_an_eager_one"
step regions "${REGIONS_S:-120}" $python benchmarks/regions.py --threads 2 --repeats 3
step packing "${PACKING_S:-80}" $python benchmarks/packing.py --steps 20
step study "${STUDY_S:-270}" $python benchmarks/study.py --jobs-per-gpu 4 --keep "$study_dir"

# Per-job times of the study's GPU run (rule, wildcards, seconds), written even if it ran out of time.
find "$study_dir" -path '*results/benchmarks/*.tsv' | while read -r file; do
  printf '%s\t%s\n' "${file#*results/benchmarks/}" "$(sed -n 2p "$file" | cut -f1)"
done | sort >"$out/study_jobs.tsv"
log=$(ls -t "$study_dir"/*/.snakemake/log/*.log 2>/dev/null | head -n 1)
[ -n "$log" ] && cp "$log" "$out/snakemake.log"
echo "== study jobs finished: $(wc -l <"$out/study_jobs.tsv")"
awk -F'\t' '{split($1, p, "/"); sub(/\.tsv$/, "", p[1]); n[p[1]]++; s[p[1]] += $2}
  END {for (r in n) printf "  %-24s %4d jobs %8.1f s\n", r, n[r], s[r]}' "$out/study_jobs.tsv"
