#include "dlmscope/engine.h"

#include "core/error.h"

#include <algorithm>

namespace dlmscope {

// Forwards each tap call to every attached observer, in attachment order.
class Engine::Fanout final : public AttentionTap {
public:
    explicit Fanout(const std::vector<AttentionTap*>& obs) : obs_(obs) {}
    void on_forward_begin(const TapContext& ctx) override {
        for (AttentionTap* t : obs_) t->on_forward_begin(ctx);
    }
    bool wants(const TapContext& ctx, int layer) override {
        asked_.assign(obs_.size(), false);
        bool any = false;
        for (size_t i = 0; i < obs_.size(); ++i) any |= (asked_[i] = obs_[i]->wants(ctx, layer));
        return any;
    }
    void on_attention(const TapContext& ctx, int layer, const AttentionProbs& p) override {
        for (size_t i = 0; i < obs_.size(); ++i)
            if (asked_[i]) obs_[i]->on_attention(ctx, layer, p);
    }
    void on_forward_end(const TapContext& ctx) override {
        for (AttentionTap* t : obs_) t->on_forward_end(ctx);
    }

private:
    const std::vector<AttentionTap*>& obs_;
    std::vector<bool> asked_;
};

Engine::Engine(std::unique_ptr<Model> m, Tokenizer t)
    : model_(std::move(m)), tokenizer_(std::move(t)), fanout_(std::make_unique<Fanout>(observers_)) {}

Engine::~Engine() = default;

std::unique_ptr<Engine> Engine::load(const std::string& model_dir, const LoadOptions& opts) {
    auto m = Model::load(model_dir, opts);
    Tokenizer t = Tokenizer::load(model_dir);
    return std::unique_ptr<Engine>(new Engine(std::move(m), std::move(t)));
}

std::vector<int32_t> Engine::encode_chat(const std::string& text) const {
    const ChatTemplate tmpl = model_->config().model_type == "llada" ? ChatTemplate::llada : ChatTemplate::mmada;
    return tokenizer_.encode(tokenizer_.apply_chat_template(text, tmpl));
}

GenerateParams Engine::default_params() const {
    GenerateParams p;
    const ModelConfig& c = model_->config();
    p.mask_id = tokenizer_.token_to_id("<|mdm_mask|>").value_or(c.mask_token_id);
    p.flavor = c.model_type == "llada" ? SamplerFlavor::llada : SamplerFlavor::mmada;
    p.eos_id = tokenizer_.token_to_id("<|endoftext|>").value_or(c.eos_token_id);
    p.eot_id = tokenizer_.token_to_id("<|eot_id|>").value_or(-1);
    return p;
}

Engine::ObserverHandle& Engine::ObserverHandle::operator=(ObserverHandle&& o) noexcept {
    if (this != &o) {
        reset();
        engine_ = o.engine_;
        tap_ = o.tap_;
        o.engine_ = nullptr;
    }
    return *this;
}

void Engine::ObserverHandle::reset() {
    if (engine_) engine_->detach(tap_);
    engine_ = nullptr;
}

Engine::ObserverHandle Engine::attach(AttentionTap& tap) {
    if (std::find(observers_.begin(), observers_.end(), &tap) != observers_.end()) fail("this observer is already attached");
    observers_.push_back(&tap);
    return ObserverHandle(this, &tap);
}

void Engine::detach(AttentionTap* tap) { observers_.erase(std::remove(observers_.begin(), observers_.end(), tap), observers_.end()); }

void Engine::set_context(int step, int block) {
    context_.step = step;
    context_.block = block;
}

std::vector<float> Engine::forward(const std::vector<int32_t>& tokens) {
    ForwardOptions fo;
    fo.tap = observers_.empty() ? nullptr : fanout_.get();
    fo.ctx = context_;
    std::vector<float> logits;
    state_.run(*model_, tokens, fo, logits);
    return logits;
}

GenerateResult Engine::generate(const std::vector<int32_t>& prompt, const GenerateParams& params, uint64_t seed, NoiseSource* noise) {
    SeededNoise seeded(seed);
    GenerateHooks hooks;
    hooks.tap = observers_.empty() ? nullptr : fanout_.get();
    return dlmscope::generate(*model_, prompt, params, noise ? *noise : seeded, hooks);
}

}  // namespace dlmscope
