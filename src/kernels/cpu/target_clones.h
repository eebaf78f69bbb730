// FATHOM_TARGET_CLONES compiles a plain loop three times (AVX-512, AVX2+FMA,
// baseline x86-64) and picks the clone at load time from cpuid, so simple
// element-wise kernels vectorise to the machine without hand-written intrinsics.
// Non-obvious rule: only for loops whose result may differ in the last bit
// between clones (FMA contraction); bit-exact code must not use it.
#pragma once

#if defined(__x86_64__) && !defined(__clang__)
#define FATHOM_TARGET_CLONES __attribute__((target_clones("avx512f", "avx2,fma", "default")))
#else
#define FATHOM_TARGET_CLONES
#endif
