#include "engine/engine-impl.h"

#include "core/error.h"
#include "engine/kernels/kernels.h"
#include "engine/kernels/team.h"
#include "engine/sampler/diffusion.h"

#include <algorithm>
#include <filesystem>

namespace dlmscope {

void ObserverFanout::on_forward_begin(const TapContext& ctx) {
    for (AttentionTap* t : obs_) t->on_forward_begin(ctx);
}

bool ObserverFanout::wants(const TapContext& ctx, int layer) {
    asked_.assign(obs_.size(), false);
    bool any = false;
    for (size_t i = 0; i < obs_.size(); ++i) any |= (asked_[i] = obs_[i]->wants(ctx, layer));
    return any;
}

void ObserverFanout::on_attention(const TapContext& ctx, int layer, const AttentionProbs& p) {
    for (size_t i = 0; i < obs_.size(); ++i)
        if (asked_[i]) obs_[i]->on_attention(ctx, layer, p);
}

void ObserverFanout::on_forward_end(const TapContext& ctx) {
    for (AttentionTap* t : obs_) t->on_forward_end(ctx);
}

namespace {

// Every id must index the embedding; `what` names the sequence in the error.
void check_ids(const std::vector<int32_t>& ids, const ModelConfig& c, const char* what) {
    for (size_t i = 0; i < ids.size(); ++i)
        if (ids[i] < 0 || ids[i] >= c.output_width)
            fail("{} id {} at position {} is outside the model's vocabulary (0..{})", what, ids[i], i, c.output_width - 1);
}

ModelInfo describe(const std::string& dir, const Model& m, const Tokenizer& tok) {
    const ModelConfig& c = m.config();
    ModelInfo i;
    i.path = std::filesystem::absolute(dir).string();
    i.model_type = c.model_type;
    i.d_model = c.d_model, i.n_layers = c.n_layers, i.n_heads = c.n_heads, i.n_kv_heads = c.n_kv_heads;
    i.head_dim = c.head_dim, i.mlp_hidden = c.mlp_hidden;
    i.vocab_size = c.vocab_size, i.embedding_size = c.output_width, i.max_sequence_length = c.max_sequence_length;
    i.n_params = c.n_params();
    i.backend = m.backend().name(), i.isa = m.backend().isa();
    i.precision = precision_name(m.precision());
    i.threads = kernels::threads();
    i.mask_id = tok.token_to_id("<|mdm_mask|>").value_or(c.mask_token_id);
    i.eos_id = tok.token_to_id("<|endoftext|>").value_or(c.eos_token_id);
    i.eot_id = tok.token_to_id("<|eot_id|>").value_or(-1);
    return i;
}

}  // namespace

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

std::unique_ptr<Engine> Engine::load(const std::string& model_dir, const LoadOptions& opts) {
    kernels::set_threads(opts.threads);
    std::unique_ptr<Model> model;
    {
        kernels::BlasThreadsGuard blas;  // packing a weight may start the thread team
        model = Model::load(model_dir, opts);
    }
    auto impl = std::make_unique<Impl>(std::move(model), Tokenizer::load(model_dir));
    impl->info = describe(model_dir, *impl->model, impl->tokenizer);
    return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

const ModelInfo& Engine::info() const { return impl_->info; }

ChatTemplate Engine::chat_template() const {
    return impl_->info.model_type == "llada" ? ChatTemplate::llada : ChatTemplate::mmada;
}

std::string Engine::apply_chat_template(const std::string& text, ChatTemplate tmpl) const {
    return impl_->tokenizer.apply_chat_template(text, tmpl == ChatTemplate::automatic ? chat_template() : tmpl);
}

std::vector<int32_t> Engine::encode(const std::string& text) const { return impl_->tokenizer.encode(text); }

std::vector<int32_t> Engine::encode_chat(const std::string& text, ChatTemplate tmpl) const {
    return impl_->tokenizer.encode(apply_chat_template(text, tmpl));
}

std::string Engine::decode(std::span<const int32_t> ids, bool skip_special) const {
    return impl_->tokenizer.decode(std::vector<int32_t>(ids.begin(), ids.end()), skip_special);
}

std::string Engine::token_text(int32_t id) const {
    if (id >= 0 && id < impl_->tokenizer.size()) return impl_->tokenizer.piece(id);
    return fmt::format("<id:{}>", id);
}

std::optional<int32_t> Engine::token_id(const std::string& token) const { return impl_->tokenizer.token_to_id(token); }

RunText Engine::text(const GenerateResult& result) const {
    const std::span<const int32_t> ids = generated_ids(result);
    RunText t;
    t.text = decode(ids, true);
    t.text_with_special = decode(ids, false);
    t.pieces.reserve(result.canvas.size());
    for (int32_t id : result.canvas) t.pieces.push_back(token_text(id));
    return t;
}

GenerateParams Engine::default_params() const {
    GenerateParams p;
    const ModelInfo& i = impl_->info;
    p.mask_id = i.mask_id;
    p.flavor = i.model_type == "llada" ? SamplerFlavor::llada : SamplerFlavor::mmada;
    p.eos_id = i.eos_id;
    p.eot_id = i.eot_id;
    return p;
}

void Engine::validate(const std::vector<int32_t>& prompt, const GenerateParams& params) const {
    const ModelConfig& c = impl_->model->config();
    if (params.mask_id < 0)
        fail("{}: cannot tell the mask token (no <|mdm_mask|> in the tokenizer, no mask_token_id in config.json); set mask_id",
             impl_->info.path);
    check_ids(prompt, c, "prompt token");
    validate_params(params, static_cast<int>(prompt.size()), c);
}

GenerateResult Engine::generate(const std::vector<int32_t>& prompt, const GenerateParams& params, const GenerateCallbacks& callbacks) {
    validate(prompt, params);
    kernels::BlasThreadsGuard blas;
    SeededNoise noise(params.seed);
    GenerateHooks hooks;
    hooks.tap = impl_->tap();
    hooks.on_step = callbacks.on_step;
    hooks.cancel = callbacks.cancel;
    return dlmscope::generate(*impl_->model, prompt, params, noise, hooks);
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
    auto& obs = impl_->observers;
    if (std::find(obs.begin(), obs.end(), &tap) != obs.end()) fail("this observer is already attached");
    obs.push_back(&tap);
    return ObserverHandle(this, &tap);
}

size_t Engine::observer_count() const { return impl_->observers.size(); }

void Engine::detach(AttentionTap* tap) {
    auto& obs = impl_->observers;
    obs.erase(std::remove(obs.begin(), obs.end(), tap), obs.end());
}

void Engine::set_context(int step, int block) {
    impl_->context.step = step;
    impl_->context.block = block;
}

std::vector<float> Engine::forward(const std::vector<int32_t>& tokens) {
    check_ids(tokens, impl_->model->config(), "token");
    kernels::BlasThreadsGuard blas;
    ForwardOptions fo;
    fo.tap = impl_->tap();
    fo.ctx = impl_->context;
    std::vector<float> logits;
    impl_->state.run(*impl_->model, tokens, fo, logits);
    return logits;
}

std::vector<std::string> backend_names() {
    std::vector<std::string> out;
    for (const kernels::Backend* b : kernels::backends()) out.push_back(b->name());
    return out;
}

std::vector<std::string> available_backends() {
    std::vector<std::string> out;
    for (const kernels::Backend* b : kernels::backends())
        if (b->available()) out.push_back(b->name());
    return out;
}

}  // namespace dlmscope
