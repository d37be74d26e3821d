#include "engine/kernels/cpu-features.h"

#include <cstdint>
#include <fstream>

#if defined(__x86_64__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace dlmscope::kernels {

namespace {

#if defined(__x86_64__)
uint64_t xgetbv0() {
    uint32_t lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (static_cast<uint64_t>(hi) << 32) | lo;
}

// Linux hands out the AMX tile state only on request (arch_prctl ARCH_REQ_XCOMP_PERM, kernel 5.16+).
bool request_amx_permission() {
    constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
    return ::syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
}
#endif

std::string model_name() {
    std::ifstream in("/proc/cpuinfo");
    for (std::string line; std::getline(in, line);)
        if (line.rfind("model name", 0) == 0) {
            const auto colon = line.find(':');
            if (colon != std::string::npos) return line.substr(line.find_first_not_of(" \t", colon + 1));
        }
    return "unknown CPU";
}

CpuFeatures detect() {
    CpuFeatures f;
    f.model = model_name();
#if defined(__x86_64__)
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid_count(1, 0, &a, &b, &c, &d)) return f;
    const bool osxsave = c & (1u << 27);
    const uint64_t xcr0 = osxsave ? xgetbv0() : 0;
    const bool ymm = (xcr0 & 0x6) == 0x6, zmm = (xcr0 & 0xe6) == 0xe6, tiles = (xcr0 & 0x60000) == 0x60000;
    const bool fma = c & (1u << 12), f16c = c & (1u << 29);
    unsigned b7 = 0, c7 = 0, d7 = 0, a71 = 0, unused = 0;
    __get_cpuid_count(7, 0, &a, &b7, &c7, &d7);
    __get_cpuid_count(7, 1, &a71, &unused, &unused, &unused);
    f.avx2 = ymm && (b7 & (1u << 5));
    f.fma = ymm && fma;
    f.f16c = ymm && f16c;
    f.avx512f = zmm && (b7 & (1u << 16));
    f.avx512dq = f.avx512f && (b7 & (1u << 17));
    f.avx512bw = f.avx512f && (b7 & (1u << 30));
    f.avx512vl = f.avx512f && (b7 & (1u << 31));
    f.avx512bf16 = f.avx512f && (a71 & (1u << 5));
    const bool amx_tile = tiles && (d7 & (1u << 24)), amx_bf16 = tiles && (d7 & (1u << 22));
    if (amx_tile && amx_bf16 && request_amx_permission()) {
        f.amx_tile = true;
        f.amx_bf16 = true;
    }
#endif
    return f;
}

}  // namespace

std::string CpuFeatures::flags() const {
    std::string s;
    auto add = [&](bool on, const char* name) {
        if (!on) return;
        if (!s.empty()) s += ' ';
        s += name;
    };
    add(avx2, "avx2");
    add(fma, "fma");
    add(f16c, "f16c");
    add(avx512f, "avx512f");
    add(avx512bw, "avx512bw");
    add(avx512vl, "avx512vl");
    add(avx512bf16, "avx512_bf16");
    add(amx_tile, "amx_tile");
    add(amx_bf16, "amx_bf16");
    return s.empty() ? "none of avx2/avx512/amx" : s;
}

const CpuFeatures& cpu_features() {
    static const CpuFeatures f = detect();
    return f;
}

}  // namespace dlmscope::kernels
