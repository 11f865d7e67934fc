#!/bin/bash
# usage: alt2.sh FILTER ROUNDS OUTDIR: base and new bench_kernels alternating; raw lines kept, min per benchmark.
F="$1"; N="$2"; D="$3"; mkdir -p $D; out=$D/raw.txt; : > $out
for i in $(seq $N); do
  for w in base new; do
    b=/work/main/build/bench/kernels/bench_kernels; [ $w = base ] && b=/tmp/wt-base/build/bench/kernels/bench_kernels
    echo "# round $i $w $(cat /proc/loadavg)" >> $out
    $b --benchmark_filter="$F" --benchmark_min_time=0.05 --benchmark_repetitions=3 2>/dev/null | grep '^MatMul' | grep -v '_mean\|_median\|_stddev\|_cv' | awk -v w=$w '{n=$1; sub(/\/real_time.*/,"",n); print w, n, $2}' >> $out
  done
done
grep -v '^#' $out | awk '{k=$2; if(!((k,$1) in m) || $3<m[k,$1]) m[k,$1]=$3; keys[k]=1} END{for(k in keys) printf "%s base=%d new=%d ratio=%.3f\n", k, m[k,"base"], m[k,"new"], m[k,"new"]/m[k,"base"]}' | sort > $D/summary.txt
cat $D/summary.txt
