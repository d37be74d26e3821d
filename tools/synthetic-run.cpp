#include "synthetic-run.h"

#include "capture/npz.h"
#include "capture/run-writer.h"
#include "capture/stats.h"
#include "core/error.h"
#include "core/file.h"
#include "core/half.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <random>
#include <vector>

namespace dlmscope::tools {

namespace {

constexpr int kPool = 64;

// A pool of random attention matrices [kPool][L × L]: softmax of scaled Gaussian logits plus a
// sink bias on key 0 and a local bias near the diagonal, each with its own strengths.
std::vector<float> make_pool(int L, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> normal;
    std::uniform_real_distribution<float> unif(0.0f, 1.0f);
    std::vector<float> pool(static_cast<size_t>(kPool) * L * L);
    std::vector<float> logits(L);
    for (int k = 0; k < kPool; ++k) {
        const float scale = 0.3f + 2.5f * k / (kPool - 1), sink = 4.0f * unif(rng), diag = 3.0f * unif(rng);
        for (int i = 0; i < L; ++i) {
            float mx = -1e30f;
            for (int j = 0; j < L; ++j) {
                logits[j] = scale * normal(rng) + (j == 0 ? sink : 0.0f) + (std::abs(i - j) <= 1 ? diag : 0.0f);
                mx = std::max(mx, logits[j]);
            }
            float* row = &pool[(static_cast<size_t>(k) * L + i) * L];
            float sum = 0.0f;
            for (int j = 0; j < L; ++j) sum += row[j] = std::exp(logits[j] - mx);
            for (int j = 0; j < L; ++j) row[j] /= sum;
        }
    }
    return pool;
}

int pool_index(int step, int layer, int head) {
    const uint64_t h = (static_cast<uint64_t>(step) * 0x9E3779B97F4A7C15ull) ^ (static_cast<uint64_t>(layer) * 0xC2B2AE3D27D4EB4Full) ^
                       (static_cast<uint64_t>(head) * 0x165667B19E3779F9ull);
    return static_cast<int>((h ^ (h >> 29)) % kPool);
}

}  // namespace

std::string write_synthetic_run(const std::string& out_dir, const SyntheticRunSpec& s) {
    const int P = s.prompt_length, G = s.gen_length, L = P + G, H = s.n_heads, NL = s.n_layers;
    if (P < 1 || G < 1 || s.block_length < 1 || G % s.block_length) fail("synthetic run: gen_length {} is not a multiple of block_length {}", G, s.block_length);
    const int n_blocks = G / s.block_length;
    if (s.steps < n_blocks || s.steps % n_blocks) fail("synthetic run: steps {} is not a multiple of the {} blocks", s.steps, n_blocks);
    const int spb = s.steps / n_blocks;
    if (s.block_length % spb) fail("synthetic run: block_length {} is not a multiple of the {} steps per block", s.block_length, spb);
    const int per_step = s.block_length / spb;
    const int Hs = s.heads == "mean" ? 1 : s.heads == "all" ? H : s.heads == "none" ? 0 : -1;
    if (Hs < 0) fail("synthetic run: heads '{}' is not mean, all or none", s.heads);
    const int steps_on_disk = s.complete ? s.steps : std::clamp(s.steps_written < 0 ? s.steps / 2 : s.steps_written, 0, s.steps);
    const auto t0 = std::chrono::steady_clock::now();

    // The fake sampler: prompt and answer tokens, the order in which each block is decoded.
    std::mt19937_64 rng(s.seed * 7919 + 17);
    std::uniform_int_distribution<int32_t> token(0, 9999);
    std::uniform_real_distribution<double> unif(0.0, 1.0);
    std::vector<int32_t> prompt(P), answer(G);
    for (auto& t : prompt) t = token(rng);
    for (auto& t : answer) t = token(rng);
    std::vector<int> order;
    for (int b = 0; b < n_blocks; ++b) {
        std::vector<int> blk(s.block_length);
        for (int k = 0; k < s.block_length; ++k) blk[k] = P + b * s.block_length + k;
        std::shuffle(blk.begin(), blk.end(), rng);
        order.insert(order.end(), blk.begin(), blk.end());
    }

    std::vector<int> layers(NL);
    for (int l = 0; l < NL; ++l) layers[l] = l;
    json config = {{"model_type", "synthetic"}, {"d_model", 128 * H}, {"n_layers", NL}, {"n_heads", H}, {"n_kv_heads", H},
                   {"head_dim", 128}, {"mlp_hidden_size", 0}, {"vocab_size", 10000}, {"embedding_size", 10000},
                   {"max_sequence_length", 4096}, {"n_params", 0}};
    json params = {{"gen_length", G}, {"block_length", s.block_length}, {"steps", s.steps}, {"temperature", 0.0},
                   {"cfg_scale", 0.0}, {"remasking", "low_confidence"}, {"seed", s.seed}, {"mask_id", s.mask_id},
                   {"sampler", "mmada"}, {"template", "ids"}, {"logits_eos_inf", false}, {"confidence_eos_eot_inf", false},
                   {"backend", "synthetic"}, {"threads", 1}};
    const std::string selection = fmt::format("steps=all layers=all heads={} rows=all dtype={}", s.heads, s.f16 ? "f16" : "f32");
    json fields = {{"created", "synthetic"}, {"generator", "dlmscope-make-synthetic-run"},
                   {"model", {{"path", "synthetic"}, {"config", config}}}, {"params", params}, {"prompt", "synthetic"},
                   {"prompt_text", "synthetic"}, {"prompt_ids", prompt}, {"prompt_length", P}, {"canvas_length", L},
                   {"num_blocks", n_blocks}, {"steps_per_block", spb}, {"capture", {{"selection", selection}}}};
    RunWriter run(out_dir, s.manifest, fields);

    const std::vector<float> pool = s.attention ? std::vector<float>() : make_pool(L, s.seed);
    std::vector<int32_t> canvas(L, s.mask_id);
    std::copy(prompt.begin(), prompt.end(), canvas.begin());
    std::vector<int32_t> history;
    std::vector<int> commit_step(L, -1);
    json steps_json = json::array();
    uint64_t bytes_written = 0, raw_bytes = 0;
    std::vector<float> head(static_cast<size_t>(L) * L), stats, maps;
    std::vector<std::array<float, kNumRowSets * kNumStats>> pool_stats(kPool);
    const size_t LL = static_cast<size_t>(L) * L;

    for (int step = 0; step < steps_on_disk; ++step) {
        history.insert(history.end(), canvas.begin(), canvas.end());
        const std::vector<uint8_t> cls = key_classes(canvas, P, s.mask_id);
        if (!s.attention)
            for (int k = 0; k < kPool; ++k) head_stats(&pool[k * LL], 0, L, L, cls, P, pool_stats[k]);
        stats.assign(static_cast<size_t>(NL) * H * kNumRowSets * kNumStats, 0.0f);
        maps.assign(static_cast<size_t>(NL) * Hs * LL, 0.0f);
        for (int l = 0; l < NL; ++l)
            for (int h = 0; h < H; ++h) {
                const float* A;
                std::array<float, kNumRowSets * kNumStats> st;
                if (s.attention) {
                    s.attention(step, l, h, head.data(), L);
                    head_stats(head.data(), 0, L, L, cls, P, st);
                    A = head.data();
                } else {
                    const int k = pool_index(step, l, h);
                    A = &pool[k * LL];
                    st = pool_stats[k];
                }
                std::copy(st.begin(), st.end(), stats.begin() + (static_cast<size_t>(l) * H + h) * st.size());
                if (Hs == 1) {
                    float* dst = &maps[static_cast<size_t>(l) * LL];
                    for (size_t x = 0; x < LL; ++x) dst[x] += A[x] / H;
                } else if (Hs == H) {
                    std::copy(A, A + LL, &maps[(static_cast<size_t>(l) * H + h) * LL]);
                }
            }

        // The archive, as the capture's writer builds it.
        NpzBuilder npz;
        npz.add("canvas", "<i4", {L}, canvas.data(), canvas.size() * 4);
        npz.add("stats", "<f4", {NL, H, kNumRowSets, kNumStats}, stats.data(), stats.size() * 4);
        raw_bytes += (canvas.size() + stats.size()) * 4;
        const std::vector<int64_t> map_shape = {NL, Hs, L, L};
        if (Hs > 0) {
            if (s.f16) {
                std::vector<uint16_t> h16(maps.size());
                for (size_t x = 0; x < maps.size(); ++x) h16[x] = f32_to_f16(maps[x]);
                npz.add("attn", "<f2", map_shape, h16.data(), h16.size() * 2);
                raw_bytes += h16.size() * 2;
            } else {
                npz.add("attn", "<f4", map_shape, maps.data(), maps.size() * 4);
                raw_bytes += maps.size() * 4;
            }
        }
        const std::vector<uint8_t>& bytes = npz.finish();
        const std::string file = fmt::format("step_{:05d}.npz", step);
        write_file_atomic((std::filesystem::path(run.array_dir()) / file).string(), {{bytes.data(), bytes.size()}});
        bytes_written += bytes.size();
        const int block = step / spb, sib = step % spb;
        const std::string rel = std::filesystem::path(run.array_dir()).filename().string() + "/" + file;
        json common = {{"step", step}, {"block", block}, {"step_in_block", sib}, {"layers", layers}, {"file", rel}};
        std::vector<json> entries;
        entries.push_back(json{{"name", "canvas"}, {"kind", "canvas"}, {"shape", {L}}, {"dtype", "int32"}});
        entries.push_back(json{{"name", "stats"}, {"kind", "stats"}, {"heads", "all"}, {"shape", {NL, H, kNumRowSets, kNumStats}},
                               {"dtype", "float32"}, {"axes", {"layer", "head", "row_set", "stat"}}});
        if (Hs > 0)
            entries.push_back(json{{"name", "attn"}, {"kind", "attention"}, {"heads", s.heads}, {"shape", map_shape},
                                   {"dtype", s.f16 ? "float16" : "float32"}, {"rows", {0, L}},
                                   {"axes", {"layer", "head", "query", "key"}}});
        for (json& e : entries) e.update(common);
        run.index_arrays(entries);

        // Commit this step's positions.
        std::vector<int> pos(order.begin() + step * per_step, order.begin() + (step + 1) * per_step);
        std::sort(pos.begin(), pos.end());
        std::vector<int32_t> toks;
        std::vector<double> conf;
        for (int i : pos) {
            canvas[i] = answer[i - P];
            commit_step[i] = step;
            toks.push_back(canvas[i]);
            conf.push_back(0.2 + 0.8 * unif(rng));
        }
        steps_json.push_back({{"step", step}, {"block", block}, {"step_in_block", sib}, {"positions", pos}, {"tokens", toks},
                              {"confidences", conf}, {"forward_s", 0.0}});
    }

    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    json capture = {{"selection", selection}, {"layers", layers}, {"heads", s.heads}, {"stored_heads", Hs}, {"rows", {0, L}},
                    {"dtype", Hs > 0 ? (s.f16 ? "float16" : "float32") : "none"}, {"stat_names", kStatNames},
                    {"row_sets", kRowSetNames}, {"local_window", kLocalWindow}, {"steps_written", steps_on_disk},
                    {"bytes_written", bytes_written}, {"raw_bytes", raw_bytes}, {"tap_seconds", 0.0}, {"write_seconds", seconds}};
    if (!s.complete) {
        run.abort(fmt::format("synthetic run stopped after {} of {} steps", steps_on_disk, s.steps), {{"capture", capture}});
        return run.manifest_path();
    }
    history.insert(history.end(), canvas.begin(), canvas.end());
    run.write_array("history.npy", "<i4", {s.steps + 1, L}, history.data(), history.size() * 4,
                    {{"name", "history"}, {"kind", "history"}, {"description", "row s = canvas before step s; last row = final canvas"}});
    json tokens = json::array();
    for (int32_t id : canvas) tokens.push_back(fmt::format("t{}", id));
    run.update({{"capture", capture}});
    run.finish({{"output_ids", answer},
                {"text", ""},
                {"text_with_special", ""},
                {"tokens", tokens},
                {"commit_step", commit_step},
                {"steps", steps_json},
                {"timings", {{"generate_s", seconds}, {"forward_s", 0.0}, {"forwards", s.steps}, {"gflop", 0.0}}}});
    return run.manifest_path();
}

}  // namespace dlmscope::tools
