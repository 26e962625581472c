#!/usr/bin/env bash
# The benchmark harness: engine overhead of ice on the shared workloads
# (../shared/bench/gen.py), next to LangGraph on the same workloads, in one run.
#
#   bench/run.sh                 # everything (installs LangGraph into bench-out/venv)
#   ICE_BENCH_SKIP_LANGGRAPH=1 bench/run.sh
#   ICE_BENCH_REPEAT=20 bench/run.sh
#
# Prints a Markdown table; raw JSON lines are kept in bench-out/.
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${ICE_SHARED_DIR:-../shared}
out=bench-out
repeat=${ICE_BENCH_REPEAT:-10}
mkdir -p "$out/ice" "$out/iceos"

cargo build --release -q -p ice-bench -p ice-cli
python3 "$shared/bench/gen.py" "$out/ice" --sizes 10 100 1000 10000 > /dev/null
python3 "$shared/bench/gen.py" "$out/iceos" --sizes 10 100 1000 10000 --dialect iceos > /dev/null

# ice, in memory, through the library.
: > "$out/ice.jsonl"
for kind in chain wide layered wide_sleep; do
  for n in 10 100 1000 10000; do
    ./target/release/ice-bench "$out/ice/${kind}_${n}.json" --repeat "$repeat" >> "$out/ice.jsonl"
  done
done

# Control-flow nodes: per-iteration and per-branch overhead.
python3 bench/gen_control.py "$out/control"
: > "$out/control.jsonl"
for f in loop_100 loop_1000 loop_10000 parallel_10 parallel_100 recursive_50; do
  ./target/release/ice-bench "$out/control/$f.json" --repeat "$repeat" >> "$out/control.jsonl"
done

# The CLI's peak memory running 1,000-node workflows.
: > "$out/cli_rss.txt"
for kind in chain wide layered; do
  /usr/bin/time -f "${kind}_1000 %M" ./target/release/ice run "$out/ice/${kind}_1000.json" --json \
    > /dev/null 2>> "$out/cli_rss.txt"
done

# LangGraph on the same graphs (iceos dialect), same machine, same run.
: > "$out/langgraph.jsonl"
if [ -z "${ICE_BENCH_SKIP_LANGGRAPH:-}" ]; then
  if [ ! -x "$out/venv/bin/python" ]; then
    python3 -m venv "$out/venv"
    "$out/venv/bin/pip" install -q langgraph
  fi
  for kind in chain wide layered wide_sleep; do
    for n in 10 100 1000 10000; do
      # LangGraph needs ~0.5 ms a node: keep the largest chains to one run.
      r=3; [ "$n" = 10000 ] && r=1
      "$out/venv/bin/python" "$shared/bench/run_langgraph.py" "$out/iceos/${kind}_${n}.json" \
        --repeat "$r" --summary | tail -n 1 >> "$out/langgraph.jsonl"
    done
  done
fi

python3 bench/table.py "$out"
