// `dlmscope inspect MODEL_DIR`: config, parameter count, dtypes, shards, and the memory a run needs.
#include "cli/commands.h"
#include "engine/model/model.h"

#include <fmt/format.h>

#include <map>

namespace dlmscope::cli {

namespace {

std::string human_bytes(double b) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (b >= 1024.0 && u < 4) {
        b /= 1024.0;
        ++u;
    }
    return fmt::format("{:.1f} {}", b, units[u]);
}

struct InspectArgs {
    std::string model;
    int canvas = 160;
    std::string precision = "auto";
};

int run_inspect(const InspectArgs& a) {
    LoadOptions lo;
    lo.precision = parse_weight_precision(a.precision);
    auto model = Model::load(a.model, lo);
    const ModelConfig& c = model->config();
    const SafetensorsCheckpoint& ck = model->checkpoint();
    fmt::print("model          {}\n", a.model);
    fmt::print("model_type     {}\n", c.model_type);
    fmt::print("layers         {}\n", c.n_layers);
    fmt::print("d_model        {}  (heads {} x {}, kv heads {})\n", c.d_model, c.n_heads, c.head_dim, c.n_kv_heads);
    fmt::print("mlp_hidden     {}\n", c.mlp_hidden);
    fmt::print("vocab          {}  (output width {})\n", c.vocab_size, c.output_width);
    fmt::print("max_seq_len    {}\n", c.max_sequence_length);
    fmt::print("rope_theta     {}\n", c.rope_theta);
    fmt::print("rms_norm_eps   {}\n", c.rms_norm_eps);
    fmt::print("mask_token_id  {}\n", c.mask_token_id);
    fmt::print("eos_token_id   {}\n", c.eos_token_id);
    fmt::print("parameters     {} ({:.2f} M)\n", c.n_params(), c.n_params() / 1e6);

    std::map<std::string, std::pair<int, int64_t>> by_dtype;
    for (const auto& [name, t] : ck.all()) {
        auto& e = by_dtype[dtype_name(t->dtype)];
        ++e.first;
        e.second += t->numel();
    }
    for (const auto& [dt, e] : by_dtype) fmt::print("dtype          {}: {} tensors, {} parameters\n", dt, e.first, e.second);
    fmt::print("shards         {} ({} on disk)\n", ck.files().size(), human_bytes(static_cast<double>(ck.total_bytes())));
    for (const auto& f : ck.files()) fmt::print("               {}\n", f);

    // Working memory of one forward at the given canvas length (f32 activations).
    const double L = a.canvas, d = c.d_model, kv = static_cast<double>(c.n_kv_heads) * c.head_dim, f = c.mlp_hidden;
    const double act = 4.0 * (4 * L * d + 2 * L * kv + c.n_heads * L * L + 2 * L * f + L * c.output_width);
    fmt::print("weights        {} in memory ({})\n", human_bytes(static_cast<double>(model->weight_bytes_resident())),
               model->widened() ? "widened to f32" : "stored dtype, memory-mapped");
    fmt::print("activations    {} for a {}-token canvas\n", human_bytes(act), a.canvas);
    fmt::print("run needs      about {}\n", human_bytes(static_cast<double>(model->weight_bytes_resident()) + act));
    return 0;
}

}  // namespace

Runner add_inspect(CLI::App& app) {
    auto args = std::make_shared<InspectArgs>();
    CLI::App* cmd = app.add_subcommand("inspect", "Print a checkpoint's config, parameter count, dtypes and memory needs");
    cmd->add_option("model", args->model, "Checkpoint directory (Hugging Face layout)")->required();
    cmd->add_option("--canvas", args->canvas, "Canvas length (prompt + generation) for the memory estimate")
        ->default_val(160)->check(CLI::PositiveNumber);
    cmd->add_option("--weights", args->precision, "Weight precision in memory: auto, f32 or native")
        ->default_val("auto")->check(CLI::IsMember({"auto", "f32", "native"}));
    return [args] { return run_inspect(*args); };
}

}  // namespace dlmscope::cli
