// dlmscope capture: per-head attention statistics, reduced right after the softmax.
//
// For one head's probabilities P [n_q, L] (row i = query at canvas position q0 + i over keys j; a
// cached forward recomputes only some rows) and the canvas the forward saw, every row gets nine
// numbers, then each is averaged over three row sets of the recomputed rows:
//
//   stats   entropy         −Σ_j p_ij ln p_ij  (nats)
//           max             max_j p_ij
//           self            p_ii
//           inv_part        1 / Σ_j p_ij²     (effective number of keys; density = inv_part / L)
//           local           Σ_{|i−j|≤2} p_ij
//           mass_prompt     Σ p_ij over prompt keys (j < prompt_length, not masked)
//           mass_generated  Σ p_ij over committed generated keys (j ≥ prompt_length, not masked)
//           mass_masked     Σ p_ij over keys still masked
//           mass_sink       p_i0
//   row sets  all (every recomputed row), generated (i ≥ prompt_length), masked (canvas[i] is the mask)
//
// An empty row set yields NaN for all its stats.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

namespace dlmscope {

// Indices into the last axis of the stats array, and into its row-set axis.
inline constexpr int kStatEntropy = 0, kStatMax = 1, kStatSelf = 2, kStatInvPart = 3, kStatLocal = 4, kStatMassPrompt = 5,
                     kStatMassGenerated = 6, kStatMassMasked = 7, kStatMassSink = 8, kNumStats = 9;
inline constexpr int kRowsAll = 0, kRowsGenerated = 1, kRowsMasked = 2, kNumRowSets = 3;

inline constexpr std::array<const char*, kNumStats> kStatNames = {
    "entropy", "max", "self", "inv_participation", "local", "mass_prompt", "mass_generated", "mass_masked", "mass_sink"};
inline constexpr std::array<const char*, kNumRowSets> kRowSetNames = {"all", "generated", "masked"};
inline constexpr int kLocalWindow = 2;

// Key classes of a canvas: 0 = prompt, 1 = committed generated, 2 = masked.
std::vector<uint8_t> key_classes(std::span<const int32_t> canvas, int prompt_length, int32_t mask_id);

// Statistics of one head whose rows are the queries at canvas positions [q0, q0 + n_q) over L keys:
// out[row_set * kNumStats + stat].
void head_stats(const float* P, int q0, int n_q, int L, std::span<const uint8_t> key_class, int prompt_length,
                std::array<float, kNumRowSets * kNumStats>& out);

}  // namespace dlmscope
