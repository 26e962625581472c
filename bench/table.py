#!/usr/bin/env python3
"""Turns the raw figures of bench/run.sh into the Markdown tables of BENCHMARKS.md."""
import json
import os
import sys

out = sys.argv[1]


def lines(name):
    path = os.path.join(out, name)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip().startswith("{")]


ice = {d["file"].removesuffix(".json"): d for d in lines("ice.jsonl")}
lg = {}
for d in lines("langgraph.jsonl"):
    name = os.path.basename(d["workflow"]).removesuffix(".json")
    lg[name] = d

print("| workload | nodes | ice validate ms | ice plan ms | ice execute ms (median) | ice µs/node | values ok | LangGraph execute ms | LangGraph µs/node | ratio |")
print("|---|---:|---:|---:|---:|---:|:-:|---:|---:|---:|")
for name, d in ice.items():
    row = [name, d["nodes"], f'{d["validate_ms"]:.2f}', f'{d["plan_ms"]:.2f}', f'{d["execute_median_ms"]:.2f}',
           f'{d["per_node_us"]:.2f}', "yes" if d["value_sum_ok"] else "NO"]
    g = lg.get(name)
    if g and g.get("success"):
        ex = g["timing"]["median_execute_s"] * 1000
        row += [f"{ex:.1f}", f'{g["timing"]["us_per_node_execute"]:.1f}', f'{ex / d["execute_median_ms"]:.0f}×']
    else:
        row += ["–", "–", "–"]
    print("| " + " | ".join(str(x) for x in row) + " |")

control = lines("control.jsonl")
if control:
    print()
    print("| control-flow workload | iterations or branches | ice execute ms (median) | µs per iteration or branch |")
    print("|---|---:|---:|---:|")
    for d in control:
        name = d["file"].removesuffix(".json")
        count = int(name.rsplit("_", 1)[1])
        print(f'| {name} | {count} | {d["execute_median_ms"]:.2f} | {d["execute_median_ms"] * 1000 / count:.2f} |')

rss = os.path.join(out, "cli_rss.txt")
if os.path.exists(rss):
    print()
    print("| CLI run (`ice run FILE --json`) | peak RSS |")
    print("|---|---:|")
    with open(rss) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit():
                print(f"| {parts[0]} | {int(parts[1]) / 1024:.1f} MiB |")
