#!/bin/bash
# alt.sh FILTER ROUNDS OUT: old/new bench_kernels alternating, min of 5 repetitions each
F=$1; R=$2; O=$3
for i in $(seq $R); do for v in old new; do if [ $v = old ]; then B=/tmp/wt/build; else B=/work/main/build; fi
$B/bench/kernels/bench_kernels --benchmark_filter="$F" --benchmark_repetitions=5 --benchmark_min_time=0.05 2>/dev/null | grep -v '_mean\|_median\|_stddev\|_cv' | grep '^MatMul' | awk -v v=$v -v i=$i '{print v, i, $1, $2}' >> $O; done; done
python3 - "$O" <<'PY'
import sys,collections
d=collections.defaultdict(list)
for l in open(sys.argv[1]):
    v,i,n,t=l.split(); d[(n.replace('/real_time',''),v)].append(float(t))
names=sorted(set(k[0] for k in d))
for n in names:
    o=d.get((n,'old'),[]); w=d.get((n,'new'),[])
    if o and w:
        o.sort(); w.sort()
        print(f"{n:45s} old min {o[0]:7.0f} med {o[len(o)//2]:7.0f} | new min {w[0]:7.0f} med {w[len(w)//2]:7.0f} | min ratio {w[0]/o[0]:.3f}")
PY
