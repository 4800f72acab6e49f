"""A design run (journal 2026-12-06, "A paper with edges"): the default profile on the first
1,000 of the default split's permuted held-out images, as they are and under each of our
changes, read in the canonical form with an outlier share of 0.1; variant A without the
edged paper (regions=False), S<x> with it where it leaves at most x of the median's ink.

    python experiments/paper_edges.py A,S0.8,S100
"""
import dataclasses
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import numpy as np, util
from pixelbayes import changes, evaluation, canonical as C
data=util.load_mnist()
x,y=evaluation.training_split(data)[1]
pick=np.random.default_rng(0).permutation(len(y))[0:1000]; x,y=x[pick],y[pick]
base=util.settings_for("tutorial"); models=util.load_models(base); priors=util.log_priors(data["y_train"])
s=dataclasses.replace(base, canonical_form=False, outlier_share=0.1)
names=["identity",*changes.CHANGES]
changed={n:changes.change(x,n) for n in names}
variants=sys.argv[1].split(",")
for v in variants:
    kw=dict(regions=False) if v=="A" else {}
    if v.startswith("S"): C.SIMPLER=float(v[1:])
    t=time.time(); accs=[]
    for n in names:
        im=util.canonical(changed[n], **kw)
        ll=util.mixture_log_likelihoods(models, im, s.test_latents(), s, priors=priors)
        accs.append(np.mean(util.classify(ll,priors)==y))
    print(v, " ".join(f"{n[:6]}={a:.3f}" for n,a in zip(names,accs)), f"mean={np.mean(accs[1:]):.4f}", f"{time.time()-t:.0f}s", flush=True)
