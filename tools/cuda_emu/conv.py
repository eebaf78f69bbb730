#!/usr/bin/env python3
"""Turns a CUDA source (.cu / .cuh) of src/kernels/cuda into C++ for the emulator:
K<<<grid, block, smem, stream>>>(args) -> emu::MakeLauncher(K, emu::Cfg(grid, block, smem, stream), "K")(args);
__shared__ T x[N] -> static T x[N] (blocks run one at a time); extern __shared__ T x[] -> emu's dynamic smem.
Usage: conv.py IN OUT"""
import re, sys

src, dst = sys.argv[1], sys.argv[2]
s = open(src).read()
n_launch = 0
def launch(m):
    global n_launch
    n_launch += 1
    indent, kernel, cfg = m.group(1), m.group(2).strip(), m.group(3)
    return f'{indent}emu::MakeLauncher({kernel}, emu::Cfg({cfg}), "{kernel}")('
s = re.sub(r'(^[ \t]*|[?:()][ \t]*)([A-Za-z_][\w:]*(?:<[^<>;]*>)?)<<<(.+?)>>>\(', launch, s, flags=re.S | re.M)
s = re.sub(r'extern\s+__shared__\s+([\w:]+)\s+(\w+)\s*\[\s*\]\s*;',
           r'\1* \2 = reinterpret_cast<\1*>(emu::DynSmem());', s)
s = re.sub(r'\b__shared__\b', 'static', s)
s = re.sub(r'#include\s+"kernels/cuda/weight_decode\.cuh"', '#include "weight_decode.cuh.cc"', s)
s = '#include "emu_kernel.h"\n#line 1 "' + src + '"\n' + s
if '<<<' in s:
    sys.exit(f'{src}: unconverted launch left')
open(dst, 'w').write(s)
