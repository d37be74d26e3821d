// dlmscope bench: this machine's hardware peaks — f32 FMA, AVX512-BF16 dot, AMX-BF16 and memory
// read bandwidth — measured in the same run as a benchmark, so its speeds can be quoted as a ratio
// of the peak.
//
// The binary is built without -march flags: every ISA-specific kernel lives in its own target
// region of peaks.cpp and is only called after the engine's cpu_features() (cpuid, XGETBV for the
// OS's register state, Linux's AMX permission) says the CPU and the OS support it. A peak the machine cannot run comes back with available = false
// and why_not set.
//
// Each peak runs its kernel on `threads` std::threads, all released together, and is timed as a
// whole (total work / wall time). It calibrates the work so that one repetition takes about
// seconds / 5, then reports the best of 5 repetitions: about `seconds` in all, plus a short
// calibration (and, for memory, filling the 1 GiB buffer).
#pragma once

#include <string>
#include <vector>

namespace dlmscope::bench {

struct Peak {
    std::string what;     // "f32 FMA", "bf16 dot", "AMX bf16", "memory read"
    std::string isa;      // the instructions it ran, e.g. "AVX-512 (zmm)"
    double value = 0;     // in `unit`; 0 when not available
    std::string unit;     // "GFLOP/s" or "GB/s" (1 GB = 1e9 bytes)
    bool available = false;
    std::string why_not;  // set when !available
};

// All of these throw std::invalid_argument when threads < 1 or seconds <= 0.

// GFLOP/s of vector FMA (2 FLOP per lane): AVX-512 (zmm) when the CPU and OS support it, else
// AVX2+FMA (ymm). Unavailable without either.
// allow_avx512 = false measures the AVX2 peak on an AVX-512 CPU (the bound of the avx2 backend).
Peak peak_f32_fma(int threads, double seconds, bool allow_avx512 = true);

// GFLOP/s of VDPBF16PS on zmm registers (32 multiply-adds = 64 FLOP per instruction). Unavailable
// without AVX512_BF16 (or without the OS's AVX-512 state).
Peak peak_bf16_dot(int threads, double seconds);

// GFLOP/s of AMX TDPBF16PS on tiles held in registers (16x16 f32 += 16x32 bf16 · 32x16 bf16 =
// 16384 FLOP per instruction). Unavailable without AMX-TILE and AMX-BF16, the OS's tile state, or
// the kernel's permission (arch_prctl ARCH_REQ_XCOMP_PERM).
Peak peak_amx_bf16(int threads, double seconds);

// GB/s reading (and summing) a 1 GiB buffer split across the threads, with AVX2 loads (SSE2 on a
// CPU without AVX2). Unavailable if the buffer cannot be allocated.
Peak peak_memory_read(int threads, double seconds);

// The four above, in that order, each for about seconds_each.
std::vector<Peak> measure_peaks(int threads, double seconds_each);

// The 1-minute load average (getloadavg), printed beside every figure: other work on the cores
// lowers them. -1 when unreadable.
double load_average();

}  // namespace dlmscope::bench
