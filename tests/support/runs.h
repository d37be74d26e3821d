// Test support: the official fixture runs (fixtures/mmada-tiny/runs) and the tiny model loaded per
// kernel backend and precision — shared by the parity and precision suites.
#pragma once

#include "engine/kernels/backend.h"
#include "engine/model/model.h"
#include "engine/sampler/diffusion.h"
#include "support/fixtures.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace dlmscope::test {

inline const std::vector<std::string> kRuns = {"t0", "t1-noise", "cfg-random", "llada-t0", "remainder"};

// One fixture run: its meta.json, prompt, final canvas, every canvas, steps.json and the sampler
// parameters it ran with.
struct RunFixture {
    std::string name;
    json meta;
    std::vector<int32_t> prompt;
    std::vector<int32_t> tokens;   // final canvas
    std::vector<int32_t> history;  // [T+1, L]
    json steps;
    int L = 0;
    GenerateParams params;
};

inline RunFixture load_run(const std::string& name) {
    RunFixture r;
    r.name = name;
    const std::string dir = run_dir(name);
    r.meta = read_json_file(dir + "/meta.json");
    r.prompt = to_i32(read_npy(dir + "/prompt.npy").as_i64());
    r.tokens = to_i32(read_npy(dir + "/tokens.npy").as_i64());
    r.history = to_i32(read_npy(dir + "/history.npy").as_i64());
    r.steps = read_json_file(dir + "/steps.json");
    r.L = r.meta["seq_len"].get<int>();
    const json& a = r.meta["args"];
    r.params.gen_length = a["gen_length"];
    r.params.block_length = a["block_length"];
    r.params.steps = a["steps"];
    r.params.temperature = a["temperature"];
    r.params.cfg_scale = a["cfg_scale"];
    r.params.remasking = parse_remasking(a["remasking"]);
    r.params.flavor = a["gen"] == "llada" ? SamplerFlavor::llada : SamplerFlavor::mmada;
    r.params.mask_id = r.meta["mask_id"];
    return r;
}

// The tiny model loaded for one backend and precision, once per process.
inline const Model& tiny_model(const std::string& backend = "reference", kernels::Precision precision = kernels::Precision::f32) {
    static std::map<std::pair<std::string, kernels::Precision>, std::unique_ptr<Model>> models;
    auto& m = models[{backend, precision}];
    if (!m) {
        LoadOptions lo;
        lo.backend = backend;
        lo.precision = precision;
        m = Model::load(tiny_checkpoint(), lo);
    }
    return *m;
}

// Every registered backend's name (tests are instantiated for all; unavailable ones skip).
inline std::vector<std::string> backend_names() {
    std::vector<std::string> names;
    for (const kernels::Backend* b : kernels::backends()) names.push_back(b->name());
    return names;
}

// Why this CPU cannot run the backend, or nothing when it can.
inline std::optional<std::string> unavailable_reason(const std::string& name) {
    const kernels::Backend& be =
        **std::find_if(kernels::backends().begin(), kernels::backends().end(), [&](auto* b) { return name == b->name(); });
    if (be.available()) return std::nullopt;
    return "backend " + name + " needs " + be.isa() + ": not on this CPU";
}

// gtest name of a (run, backend) parameter: "t1_noise_avx512_bf16".
inline std::string run_backend_name(const ::testing::TestParamInfo<std::tuple<std::string, std::string>>& info) {
    std::string n = std::get<0>(info.param) + "_" + std::get<1>(info.param);
    for (char& c : n)  // gtest names: letters, digits, underscores ("none-thr0.2", "avx512-bf16")
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    return n;
}

}  // namespace dlmscope::test

// Skips the test when this CPU cannot run the backend, saying why.
#define DLM_SKIP_UNAVAILABLE(backend_name) \
    if (const auto why = ::dlmscope::test::unavailable_reason(backend_name)) GTEST_SKIP() << *why
