#include "engine/model/denoiser.h"

#include "core/error.h"
#include "engine/model/kv-cache.h"

#include <tuple>

namespace dlmscope {

CacheMode parse_cache_mode(const std::string& s) {
    if (s == "none") return CacheMode::none;
    if (s == "prefix") return CacheMode::prefix;
    if (s == "dual") return CacheMode::dual;
    fail("unknown cache mode '{}' (expected none, prefix or dual)", s);
}

const char* cache_mode_name(CacheMode m) {
    switch (m) {
        case CacheMode::prefix: return "prefix";
        case CacheMode::dual: return "dual";
        case CacheMode::none: break;
    }
    return "none";
}

const char* forward_kind_name(ForwardKind k) {
    switch (k) {
        case ForwardKind::prefix: return "prefix";
        case ForwardKind::dual: return "dual";
        case ForwardKind::full: break;
    }
    return "full";
}

namespace {

// Every step recomputes the whole canvas.
class FullDenoiser final : public Denoiser {
public:
    explicit FullDenoiser(const Model& m) : model_(m) {}
    std::pair<int, int> rows(int, int, int, int L) const override { return {0, L}; }
    DenoiseInfo run(std::span<const int32_t> x, const DenoiseRequest& req, std::vector<float>& logits) override {
        ForwardOptions fo;
        fo.tap = req.tap;
        fo.ctx = req.ctx;
        fo.logit_rows = req.logit_rows;
        state_.run(model_, x, fo, logits);
        const int64_t L = static_cast<int64_t>(x.size());
        return {ForwardKind::full, 0, static_cast<int>(L), forward_flops(model_.config(), L, L, static_cast<int64_t>(logits.size()) / model_.config().output_width)};
    }

private:
    const Model& model_;
    ForwardState state_;
};

// A block's first step (and every refresh-th) fills the cache; the others reuse it.
class BlockCacheDenoiser final : public Denoiser {
public:
    BlockCacheDenoiser(const Model& m, CacheMode mode, int refresh, int L, bool oracle)
        : model_(m), mode_(mode), refresh_(refresh), oracle_(oracle) {
        cache_.reset(m.config(), L);
    }
    DenoiseInfo run(std::span<const int32_t> x, const DenoiseRequest& req, std::vector<float>& logits) override {
        const int64_t L = static_cast<int64_t>(x.size());
        if (L != cache_.length()) fail("denoiser: canvas of {} positions, cache sized for {}", L, cache_.length());
        ForwardOptions fo;
        fo.tap = req.tap;
        fo.ctx = req.ctx;
        fo.logit_rows = req.logit_rows;
        fo.cache = &cache_;
        DenoiseInfo info;
        if (full(req.step_in_block)) {
            fo.kv = KvUse::fill;
            info = {ForwardKind::full, 0, static_cast<int>(L), 0.0};
        } else {
            fo.kv = oracle_ ? KvUse::frozen : KvUse::reuse;
            std::tie(fo.row_begin, fo.row_end) = rows(req.step_in_block, req.block_start, req.block_end, static_cast<int>(L));
            info = {mode_ == CacheMode::prefix ? ForwardKind::prefix : ForwardKind::dual, fo.row_begin, fo.row_end, 0.0};
        }
        state_.run(model_, x, fo, logits);
        const int64_t computed = fo.kv == KvUse::frozen ? L : info.row_end - info.row_begin;
        info.flops = forward_flops(model_.config(), computed, L,
                                   static_cast<int64_t>(logits.size()) / model_.config().output_width);
        return info;
    }
    std::pair<int, int> rows(int step_in_block, int block_start, int block_end, int L) const override {
        if (full(step_in_block)) return {0, L};
        return {block_start, mode_ == CacheMode::prefix ? L : block_end};
    }

private:
    // A block's first step, and every refresh-th, is a full forward that fills the cache.
    bool full(int step_in_block) const { return step_in_block == 0 || (refresh_ > 0 && step_in_block % refresh_ == 0); }

    const Model& model_;
    CacheMode mode_;
    int refresh_;
    bool oracle_;
    KvCache cache_;
    ForwardState state_;
};

}  // namespace

std::unique_ptr<Denoiser> make_denoiser(const Model& model, CacheMode mode, int refresh, int canvas_length, bool oracle) {
    if (mode == CacheMode::none) return std::make_unique<FullDenoiser>(model);
    return std::make_unique<BlockCacheDenoiser>(model, mode, refresh, canvas_length, oracle);
}

}  // namespace dlmscope
