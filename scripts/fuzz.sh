#!/usr/bin/env bash
# Builds the fuzz preset (clang-14, libFuzzer + ASan + UBSan) and runs every fuzz target for a
# bounded time, two at a time (the CI machine has 2 cores). Each run starts from the seed corpus
# in tests/fuzz/corpus/<target> (read only: new inputs go to a scratch corpus under build/fuzz)
# with tests/fuzz/dict/json.dict plus the target's own dictionary. Any crash, leak, UB report,
# timeout or out-of-memory fails the script; the input is kept in build/fuzz/artifacts/<target>/.
#
#   scripts/fuzz.sh                  every target, FUZZ_SECONDS (30) each
#   FUZZ_SECONDS=600 scripts/fuzz.sh network_selection cni_args
#   FUZZ_RUNS=1000000 FUZZ_SECONDS=900 scripts/fuzz.sh   1M inputs each (or 900 s, what comes first)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-30}
runs=${FUZZ_RUNS:--1}  # -1: no limit on the number of inputs
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j2

bin=build/fuzz/fuzz
work=build/fuzz/run
if [ $# -gt 0 ]; then
  targets=("$@")
else
  targets=()
  for source in tests/fuzz/*_fuzz.cpp; do
    name=$(basename "$source" .cpp)
    targets+=("${name%_fuzz}")
  done
fi

run_one() {
  local target=$1 corpus=$work/$1/corpus artifacts=build/fuzz/artifacts/$1 dict=$work/$1/dict
  mkdir -p "$corpus" "$artifacts"
  cat tests/fuzz/dict/json.dict > "$dict"
  if [ -f "tests/fuzz/dict/$target.dict" ]; then cat "tests/fuzz/dict/$target.dict" >> "$dict"; fi
  # -timeout: one input taking 10 s is a hang; -rss_limit_mb: 2 fuzzers fit the machine's memory.
  if "$bin/${target}_fuzz" "$corpus" "tests/fuzz/corpus/$target" -dict="$dict" \
      -max_total_time="$seconds" -runs="$runs" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
      -artifact_prefix="$artifacts/" -print_final_stats=1 >"$work/$target.log" 2>&1; then
    echo "fuzz $target: $(grep -E '^stat::number_of_executed_units' "$work/$target.log" | awk '{print $2}') execs in" \
         "$(grep -oE 'Done [0-9]+ runs in [0-9]+ second' "$work/$target.log" | awk '{print $5}')s," \
         "cov $(grep -oE 'cov: [0-9]+' "$work/$target.log" | tail -1 | cut -d' ' -f2)," \
         "ft $(grep -oE 'ft: [0-9]+' "$work/$target.log" | tail -1 | cut -d' ' -f2), 0 crashes"
  else
    echo "fuzz $target: FAILED (input kept in $artifacts/)"
    tail -60 "$work/$target.log"
    return 1
  fi
}

mkdir -p "$work"
failed=0
pids=()
names=()
for target in "${targets[@]}"; do
  run_one "$target" &
  pids+=($!)
  names+=("$target")
  if [ ${#pids[@]} -ge 2 ]; then
    wait "${pids[0]}" || failed=$((failed + 1))
    pids=("${pids[@]:1}")
    names=("${names[@]:1}")
  fi
done
for pid in "${pids[@]}"; do wait "$pid" || failed=$((failed + 1)); done
echo "fuzz: $(( ${#targets[@]} - failed )) of ${#targets[@]} targets ran clean"
[ "$failed" -eq 0 ]
