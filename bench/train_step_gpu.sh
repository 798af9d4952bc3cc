#!/bin/bash
# issue 14: every GPU figure of bench/train_step.py in one run (device tool: copy engine/, bench/ and a faces/
# folder with src/ and dst/ aligned facesets into a git-ignored stage folder, carry it, run this script there).
# Results: $OUT/log and $OUT/results.jsonl. The first rows: the default step (compile) against the loop
# waiting for each step (compsync), for every config. BENCH_SECONDS bounds the timings (default 330 s; the checks
# before them up to 240 s, GPU_CHECKS=0 skips them).
cd "$(dirname "$0")/.."  # the stage folder (engine/, bench/, faces/)
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv | tee $OUT/log
# the CUDA-only paths CI cannot run (bench/gpu_checks.py: the deferred-stats loop, XSeg's chain on the GPU)
[ "${GPU_CHECKS:-1}" = 1 ] && timeout 240 python3 bench/gpu_checks.py --faces faces 2>&1 | tee -a $OUT/log
DEFAULT_PLAN="r256_liae_udt_b8:compile:bf16 r256_liae_udt_b8:compsync:bf16 r128_df_ud_b16:compile:bf16
r128_df_ud_b16:compsync:bf16 amp224_b8:compile:bf16 amp224_b8:compsync:bf16 r256_liae_udt_b32:compile:bf16
r256_liae_udt_b32:compsync:bf16 xseg256_b8:eager:bf16 xseg256_b8:hostaug:bf16 r256_liae_udt_b8:today:bf16
r128_df_ud_b16:today:bf16 amp224_b8:today:bf16 r256_liae_udt_b32:today:bf16 r256_liae_udt_b8:compile:fp32
r128_df_ud_b16:compile:fp32 amp224_b8:compile:fp32 r256_liae_udt_b32:compile:fp32 r256_liae_udt_b8:compilecl:bf16
r256_liae_udt_b32:compilecl:bf16 r256_liae_udt_b8:graph:bf16 r256_liae_udt_b8:eager:bf16 xseg256_b8:eager:fp32
xseg256_b8:hostaug:fp32"
P=${PLAN:-$DEFAULT_PLAN}  # CONFIG:VARIANT:PRECISION runs, in order
timeout ${BENCH_SECONDS:-330} python3 bench/train_step.py --device cuda --faces faces --iters 20 --warmup 5 \
  --log $OUT/results.jsonl --plan $P 2>&1 | tee -a $OUT/log
