#include "engine/model/denoiser.h"

#include "core/error.h"

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
        const bool full = req.step_in_block == 0 || (refresh_ > 0 && req.step_in_block % refresh_ == 0);
        DenoiseInfo info;
        if (full) {
            fo.kv = KvUse::fill;
            info = {ForwardKind::full, 0, static_cast<int>(L), 0.0};
        } else {
            fo.kv = oracle_ ? KvUse::frozen : KvUse::reuse;
            fo.row_begin = req.block_start;
            fo.row_end = mode_ == CacheMode::prefix ? static_cast<int>(L) : req.block_end;
            info = {mode_ == CacheMode::prefix ? ForwardKind::prefix : ForwardKind::dual, fo.row_begin, fo.row_end, 0.0};
        }
        state_.run(model_, x, fo, logits);
        const int64_t computed = fo.kv == KvUse::frozen ? L : info.row_end - info.row_begin;
        info.flops = forward_flops(model_.config(), computed, L,
                                   static_cast<int64_t>(logits.size()) / model_.config().output_width);
        return info;
    }
    const KvCache* cache() const override { return &cache_; }

private:
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
