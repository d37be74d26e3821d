// dlmscope: the embedding API — load a model, encode a prompt, generate, observe the attention.
//
//   #include <dlmscope/engine.h>
//   #include <dlmscope/capture.h>
//
//   auto engine = dlmscope::Engine::load("models/mmada-fortunes");   // throws dlmscope::Error
//   dlmscope::GenerateParams p = engine->default_params();           // mask/eos ids, numerics by model_type
//   p.gen_length = 64, p.block_length = 32, p.steps = 64;
//   dlmscope::AttentionRecorder rec;              // keeps maps in memory, like the old AttentionHook
//   {
//       auto handle = engine->attach(rec);        // detached when `handle` goes away, also on a throw
//       auto out = engine->generate(engine->encode_chat("Hi"), p);
//       std::string text = engine->decode(dlmscope::generated_ids(out));
//       for (const auto& [key, map] : rec.maps()) ...   // (step, layer) -> [heads, queries, keys]
//   }
//
// The header is self-contained: it names no third-party type and no internal header. One Engine
// runs one generation at a time (its methods are not reentrant); engines may live side by side.
// To write a run directory (the CLI's --save-history), see dlmscope/run.h.
#pragma once

#include "dlmscope/error.h"
#include "dlmscope/tap.h"
#include "dlmscope/types.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace dlmscope {

// What generate() reports while it runs, and how to stop it.
struct GenerateCallbacks {
    // After every step, on the generating thread (progress, streaming, checking for Ctrl-C).
    std::function<void(const StepRecord&)> on_step;
    // Checked between steps; when it reads true, generate() throws Cancelled.
    const std::atomic<bool>* cancel = nullptr;
};

class Engine {
public:
    ~Engine();
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    // Loads config, weights and tokenizer from a Hugging Face checkpoint directory.
    static std::unique_ptr<Engine> load(const std::string& model_dir, const LoadOptions& opts = {});

    const ModelInfo& info() const;

    // --- text -------------------------------------------------------------------------------
    // `tmpl` automatic picks the model's (llada for model_type "llada", else mmada).
    std::string apply_chat_template(const std::string& text, ChatTemplate tmpl = ChatTemplate::automatic) const;
    // The template `automatic` stands for with this model: llada for model_type "llada", else mmada.
    ChatTemplate chat_template() const;
    std::vector<int32_t> encode(const std::string& text) const;  // no template, special tokens recognised
    std::vector<int32_t> encode_chat(const std::string& text, ChatTemplate tmpl = ChatTemplate::automatic) const;
    std::string decode(std::span<const int32_t> ids, bool skip_special = true) const;
    // The text a reader sees for one id (its BPE piece with bytes decoded), or "<id:N>" outside the vocabulary.
    std::string token_text(int32_t id) const;
    std::optional<int32_t> token_id(const std::string& token) const;
    // The generated text of a result (with and without special tokens) and the piece of every canvas position.
    RunText text(const GenerateResult& result) const;

    // --- generation ---------------------------------------------------------------------------
    // Sampler defaults for this model: mask/eos/eot ids from the tokenizer, numerics by model_type.
    GenerateParams default_params() const;
    // Throws Error naming the parameter (or the prompt id) that this model and prompt cannot take.
    void validate(const std::vector<int32_t>& prompt, const GenerateParams& params) const;
    // Runs the sampler; attached observers see every forward. Throws Error, or Cancelled.
    GenerateResult generate(const std::vector<int32_t>& prompt, const GenerateParams& params,
                            const GenerateCallbacks& callbacks = {});

    // --- observers ------------------------------------------------------------------------------
    // RAII registration of an observer. Destroying the handle (or calling reset()) detaches it.
    class ObserverHandle {
    public:
        ObserverHandle() = default;
        ObserverHandle(ObserverHandle&& o) noexcept : engine_(o.engine_), tap_(o.tap_) { o.engine_ = nullptr; }
        ObserverHandle& operator=(ObserverHandle&& o) noexcept;
        ObserverHandle(const ObserverHandle&) = delete;
        ObserverHandle& operator=(const ObserverHandle&) = delete;
        ~ObserverHandle() { reset(); }
        void reset();

    private:
        friend class Engine;
        ObserverHandle(Engine* e, AttentionTap* t) : engine_(e), tap_(t) {}
        Engine* engine_ = nullptr;
        AttentionTap* tap_ = nullptr;
    };

    // Registers `tap`; every forward of this engine reports to every attached observer.
    [[nodiscard]] ObserverHandle attach(AttentionTap& tap);
    size_t observer_count() const;

    // One forward of `tokens` outside generate(); returns logits [L, info().embedding_size].
    // Observers are told the step/block of set_context (default -1).
    void set_context(int step, int block);
    std::vector<float> forward(const std::vector<int32_t>& tokens);

    struct Impl;  // defined in src/engine/engine-impl.h (the tools and tests reach the model there)
    Impl& impl() { return *impl_; }
    const Impl& impl() const { return *impl_; }

private:
    explicit Engine(std::unique_ptr<Impl> impl);
    void detach(AttentionTap* tap);
    std::unique_ptr<Impl> impl_;
};

// Kernel backends, fastest first: every name LoadOptions::backend accepts (besides "auto"), and
// those this CPU runs.
std::vector<std::string> backend_names();
std::vector<std::string> available_backends();

// The generated part of a result's canvas (after the prompt).
inline std::span<const int32_t> generated_ids(const GenerateResult& r) {
    return std::span<const int32_t>(r.canvas).subspan(r.prompt.size());
}

}  // namespace dlmscope
