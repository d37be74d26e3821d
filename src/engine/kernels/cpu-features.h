// dlmscope kernels: what this CPU and OS can run, read once with cpuid/xgetbv.
#pragma once

#include <string>

namespace dlmscope::kernels {

struct CpuFeatures {
    std::string model;  // "model name" of /proc/cpuinfo, or the cpuid brand string
    bool avx2 = false, fma = false, f16c = false;         // and the OS saves ymm state
    bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false;  // and zmm state
    bool avx512bf16 = false;
    bool amx_tile = false, amx_bf16 = false;  // and tile state, and Linux granted the permission
    std::string flags() const;                // the ones present, e.g. "avx2 fma avx512f … amx_bf16"
};

const CpuFeatures& cpu_features();

}  // namespace dlmscope::kernels
