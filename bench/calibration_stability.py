#!/usr/bin/env python3
"""Summarises per-token calibration dumps (keytok calibrate --dump) into the tables of
docs/results/calibration.md: thresholds per model, bootstrap and split-half spread over prompts,
per-category thresholds, seeds, answer length, and a GSM8K sample.

  bench/calibration_stability.py [DIR]     # DIR: docs/results/data/calibration (gzipped dumps)
"""
import gzip, json, random, statistics as st, sys, os
E=sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '..', 'docs', 'results', 'data', 'calibration')
q=0.08
def load(p):
    with gzip.open(p, 'rt') as f: return [json.loads(l) for l in f]
def thr(v):
    v=sorted(v); n=len(v); m=round(q*n)
    return 0.5*(v[n-m-1]+v[n-m])
def frac(v,t): return sum(1 for x in v if x>=t)/len(v)
def ent(rows, N=10**9): return [r['entropy'] for r in rows if r['index']<N]
out=[]
P=lambda *a: out.append(' '.join(str(x) for x in a))
# 1. models
P("## models (greedy, 128 tokens per answer)")
P("| model | answer tokens | 8% threshold (nats) | flagged by the fixed 2.0 rule | median entropy |")
P("|---|---:|---:|---:|---:|")
for name,f in [("SmolLM2-135M","smollm2-greedy-128.jsonl.gz"),("Gemma 3 270M","gemma3-greedy-128.jsonl.gz"),("Qwen2.5-Coder-0.5B","qwen05-greedy-128.jsonl.gz"),("Qwen2.5-Coder-1.5B","qwen15-greedy-128.jsonl.gz")]:
    p=os.path.join(E,f)
    if not os.path.exists(p): P(f"| {name} | missing |"); continue
    v=ent(load(p)); P(f"| {name} | {len(v)} | {thr(v):.3f} | {100*frac(v,2.0):.1f}% | {st.median(v):.3f} |")
rows=load(os.path.join(E,'qwen05-greedy-128.jsonl.gz'))
T=thr(ent(rows))
P(f"\n## qwen05 greedy 128: threshold {T:.3f}")
byp={}
for r in rows: byp.setdefault(r['prompt'],[]).append(r)
ps=sorted(byp)
random.seed(1)
bs=sorted(thr([r['entropy'] for p in [random.choice(ps) for _ in ps] for r in byp[p]]) for _ in range(1000))
P(f"bootstrap over prompts (1000): median {bs[500]:.3f}, 90% [{bs[50]:.3f}, {bs[950]:.3f}], 95% [{bs[25]:.3f}, {bs[975]:.3f}]")
hs=[]
for _ in range(1000):
    random.shuffle(ps); hs.append(thr([r['entropy'] for p in ps[:26] for r in byp[p]]))
hs.sort(); P(f"random halves (26 prompts, 1000 draws): 5-95% [{hs[50]:.3f}, {hs[950]:.3f}], min {hs[0]:.3f}, max {hs[-1]:.3f}, sd {st.pstdev(hs):.3f}")
cats=sorted(set(r['category'] for r in rows))
P("| category | answer tokens | its own 8% threshold | flagged by the overall threshold | overall threshold without it |")
P("|---|---:|---:|---:|---:|")
for c in cats:
    v=[r['entropy'] for r in rows if r['category']==c]; w=[r['entropy'] for r in rows if r['category']!=c]
    P(f"| {c} | {len(v)} | {thr(v):.3f} | {100*frac(v,T):.1f}% | {thr(w):.3f} |")
P("\n## seeds (temperature 0.7, 128 tokens)")
for s in [1,2,3]:
    p=os.path.join(E,f'qwen05-t07-s{s}.jsonl.gz')
    if os.path.exists(p): v=ent(load(p)); P(f"seed {s}: tokens {len(v)}, threshold {thr(v):.3f}, flagged by greedy threshold {100*frac(v,T):.1f}%")
P("\n## answer length (greedy, whole answers up to 256, qwen05-greedy-256)")
full=load(os.path.join(E,'qwen05-greedy-256.jsonl.gz'))
for N in [16,32,64,96,128,192,256]:
    v=ent(full,N); P(f"| {N} | {len(v)} | {thr(v):.3f} |")
p=os.path.join(E,'qwen05-gsm8k-dev24.jsonl.gz')
if os.path.exists(p):
    g=load(p); v=ent(g)
    P(f"\n## GSM8K (24 problems, whole answers up to 256): tokens {len(v)}, own 8% threshold {thr(v):.3f}, p90 {sorted(v)[int(.9*len(v))]:.3f}, max {max(v):.3f}")
    P(f"flagged by fixed 2.0: {100*frac(v,2.0):.1f}%, by auto {T:.3f}: {100*frac(v,T):.1f}%")
    byg={}
    for r in g: byg.setdefault(r['prompt'],[]).append(r['entropy'])
    z=sum(1 for k,x in byg.items() if max(x)<T)
    P(f"answers with no key token under the auto threshold: {z} of {len(byg)}; mean answer length {len(v)/len(byg):.0f}")
print('\n'.join(out))
