// dlmscope engine: what stands behind the public Engine (include/dlmscope/engine.h). Tools and tests
// that need the model or the tokenizer themselves reach them here; the public header stays free of
// every internal type.
#pragma once

#include "dlmscope/engine.h"
#include "engine/model/forward.h"
#include "engine/model/model.h"
#include "engine/tokenizer/tokenizer.h"

#include <memory>
#include <vector>

namespace dlmscope {

// Forwards each tap call to every attached observer, in attachment order.
class ObserverFanout final : public AttentionTap {
public:
    explicit ObserverFanout(const std::vector<AttentionTap*>& obs) : obs_(obs) {}
    void on_forward_begin(const TapContext& ctx) override;
    bool wants(const TapContext& ctx, int layer) override;
    void on_attention(const TapContext& ctx, int layer, const AttentionProbs& p) override;
    void on_forward_end(const TapContext& ctx) override;

private:
    const std::vector<AttentionTap*>& obs_;
    std::vector<bool> asked_;
};

struct Engine::Impl {
    Impl(std::unique_ptr<Model> m, Tokenizer t) : model(std::move(m)), tokenizer(std::move(t)) {}
    std::unique_ptr<Model> model;
    Tokenizer tokenizer;
    ModelInfo info;
    std::vector<AttentionTap*> observers;
    ObserverFanout fanout{observers};
    ForwardState state;
    TapContext context;

    AttentionTap* tap() { return observers.empty() ? nullptr : &fanout; }
};

}  // namespace dlmscope
