// dlmscope: the embedding API — load a model, generate, and attach attention observers.
//
//   #include <dlmscope/engine.h>
//   #include <dlmscope/capture.h>
//
//   auto engine = dlmscope::Engine::load("models/mmada-tiny-random");
//   dlmscope::AttentionRecorder rec;                 // keeps maps in memory, like the old AttentionHook
//   {
//       auto handle = engine->attach(rec);           // register; detached when `handle` goes away,
//       auto ids = engine->encode_chat("Hi");        // also when generate() throws
//       auto out = engine->generate(ids, engine->default_params());
//       for (const auto& [key, map] : rec.maps()) ... // (step, layer) -> [heads, queries, keys]
//   }                                                // remove
//
// For forwards outside generate(), set_context(step, block) says what the observers are told.
// Types below come from the engine's internal headers; those may change between versions.
#pragma once

#include "dlmscope/tap.h"
#include "engine/model/model.h"
#include "engine/sampler/diffusion.h"
#include "engine/tokenizer/tokenizer.h"

#include <memory>
#include <string>
#include <vector>

namespace dlmscope {

class Engine {
public:
    ~Engine();
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    // Loads config, weights and tokenizer from a checkpoint directory. Throws Error.
    static std::unique_ptr<Engine> load(const std::string& model_dir, const LoadOptions& opts = {});

    const Model& model() const { return *model_; }
    const Tokenizer& tokenizer() const { return tokenizer_; }

    // Renders `text` through the model's chat template (mmada/llada by model_type) and encodes it.
    std::vector<int32_t> encode_chat(const std::string& text) const;
    // Sampler defaults for this model: mask id from the tokenizer, flavour by model_type.
    GenerateParams default_params() const;

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
    size_t observer_count() const { return observers_.size(); }

    // The step/block context reported to observers by forward().
    void set_context(int step, int block);

    // One forward of `tokens`; returns logits [L, output_width].
    std::vector<float> forward(const std::vector<int32_t>& tokens);

    // Runs the sampler; observers see every forward. `noise` defaults to SeededNoise(seed).
    GenerateResult generate(const std::vector<int32_t>& prompt, const GenerateParams& params, uint64_t seed = 42,
                            NoiseSource* noise = nullptr);

private:
    Engine(std::unique_ptr<Model> m, Tokenizer t);
    class Fanout;  // forwards tap calls to every attached observer
    void detach(AttentionTap* tap);

    std::unique_ptr<Model> model_;
    Tokenizer tokenizer_;
    std::vector<AttentionTap*> observers_;
    std::unique_ptr<Fanout> fanout_;
    ForwardState state_;
    TapContext context_;
};

}  // namespace dlmscope
