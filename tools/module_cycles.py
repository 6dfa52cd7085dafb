"""Reads cargo-modules' dependency graph (DOT, "uses" edges between modules) on stdin and prints the module
cycles (strongly connected components of more than one module). Exit status 1 where there is one."""
import re, sys
from collections import defaultdict
edges = defaultdict(set)
nodes = set()
for line in sys.stdin:
    m = re.match(r'\s*"([^"]+)" -> "([^"]+)" \[label="uses"', line)
    if m:
        a, b = m.groups()
        if a != b:
            edges[a].add(b)
            nodes.update((a, b))
# Tarjan
index, low, on, stack, out = {}, {}, set(), [], []
counter = [0]
sys.setrecursionlimit(10000)
def visit(v):
    index[v] = low[v] = counter[0]; counter[0] += 1
    stack.append(v); on.add(v)
    for w in edges[v]:
        if w not in index:
            visit(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop(); on.discard(w); comp.append(w)
            if w == v: break
        if len(comp) > 1:
            out.append(sorted(comp))
for v in sorted(nodes):
    if v not in index:
        visit(v)
for comp in out:
    inner = [f"{a} -> {b}" for a in comp for b in sorted(edges[a]) if b in comp]
    print(f"cycle among {len(comp)} modules: " + ", ".join(comp))
    for e in inner:
        print("    " + e)
print(f"{len(nodes)} modules, {sum(len(v) for v in edges.values())} use edges, {len(out)} cycle(s)")
sys.exit(1 if out else 0)
