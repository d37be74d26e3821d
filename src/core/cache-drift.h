// dlmscope core: the statistics of the cache audit (--cache-audit), as the engine computes them and
// the run format stores them (cache_drift.npy's last axis; docs/decoding.md).
#pragma once

namespace dlmscope {

inline constexpr int kNumDriftStats = 3;
inline constexpr int kDriftL1Mean = 0, kDriftL1Max = 1, kDriftJsMean = 2;
inline constexpr const char* kDriftStatNames[kNumDriftStats] = {"l1_mean", "l1_max", "js_mean"};

}  // namespace dlmscope
