#!/usr/bin/env python3
"""Control-flow workloads for ice's benchmarks (trivial bodies):

    loop_N       one loop node over N items, body: one echo node
    parallel_N   one parallel node with N branches of one echo node each
    recursive_N  a recursive node that runs its source and a one-node
                 workflow (step.json) N times before converging
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
with open(os.path.join(out, "step.json"), "w") as f:
    json.dump({"nodes": [{"id": "step", "type": "tool", "tool_name": "expr", "tool_args": {"expression": "draft.result + 1"}}]}, f)
for n in (50,):
    doc = {"name": f"recursive_{n}", "nodes": [
        {"id": "draft", "type": "tool", "tool_name": "expr", "dependencies": ["refine"],
         "tool_args": {"expression": "recursive_context.step.result if recursive_context is defined else 0"}},
        {"id": "refine", "type": "recursive", "dependencies": ["draft"], "recursive_sources": ["draft"],
         "workflow_ref": "step.json", "convergence_condition": f"iteration >= {n}", "max_iterations": n}]}
    with open(os.path.join(out, f"recursive_{n}.json"), "w") as f:
        json.dump(doc, f)
