#include "engine/model/kv-cache.h"

#include "core/error.h"

#include <algorithm>

namespace dlmscope {

void KvCache::reset(const ModelConfig& c, int64_t L) {
    L_ = L;
    kvd_ = static_cast<int64_t>(c.n_kv_heads) * c.head_dim;
    stride_ = static_cast<size_t>(L * kvd_);
    k_.assign(stride_ * c.n_layers, 0.0f);
    v_.assign(stride_ * c.n_layers, 0.0f);
    step_of_.assign(static_cast<size_t>(L), -1);
    filled_.assign(static_cast<size_t>(L), 0);
}

void KvCache::stamp(int64_t begin, int64_t end, int step) {
    DLM_ASSERT(begin >= 0 && begin <= end && end <= L_);
    std::fill(step_of_.begin() + begin, step_of_.begin() + end, step);
    std::fill(filled_.begin() + begin, filled_.begin() + end, 1);
}

bool KvCache::covers_outside(int64_t begin, int64_t end) const {
    for (int64_t i = 0; i < L_; ++i)
        if ((i < begin || i >= end) && !filled_[i]) return false;
    return true;
}

}  // namespace dlmscope
