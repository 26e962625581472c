#!/usr/bin/env python3
"""Control-flow workloads for ice's benchmarks (trivial bodies):

    loop_N      one loop node over N items, body: one echo node
    parallel_N  one parallel node with N branches of one echo node each
"""
import json
import os
import sys

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
for n in (100, 1000, 10000):
    doc = {"name": f"loop_{n}", "max_parallel": 0, "inputs": {"items": {"type": "array", "default": list(range(n))}},
           "nodes": [{"id": "each", "type": "loop", "items_source": "inputs.items",
                      "body": [{"id": "body", "type": "tool", "tool_name": "echo", "tool_args": {"value": "{{ item }}"}}]}]}
    with open(os.path.join(out, f"loop_{n}.json"), "w") as f:
        json.dump(doc, f)
for n in (10, 100):
    doc = {"name": f"parallel_{n}", "max_parallel": 0,
           "nodes": [{"id": "fan", "type": "parallel", "merge_outputs": False,
                      "branches": [[{"id": f"b{i}", "type": "tool", "tool_name": "echo", "tool_args": {"value": i}}] for i in range(n)]}]}
    with open(os.path.join(out, f"parallel_{n}.json"), "w") as f:
        json.dump(doc, f)
