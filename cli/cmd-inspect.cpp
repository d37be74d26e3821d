// `dlmscope inspect MODEL_DIR`: config, parameter count, dtypes, shards, and the memory a run needs.
#include "cli/commands.h"
#include "core/error.h"
#include "engine/kernels/cpu-features.h"
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
    std::string weights = "auto";
    std::string backend = "auto";
    std::string precision = "f32";
};

int run_inspect(const InspectArgs& a) {
    LoadOptions lo;
    lo.weights = parse_weight_precision(a.weights);
    lo.backend = a.backend;
    lo.precision = kernels::parse_precision(a.precision);
    // prepare = false: the tensors are bound and checked; nothing is widened or packed
    auto model = Model::load(a.model, lo, /*prepare=*/false);
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
    const kernels::Backend& b = model->backend();
    const WeightMemory plan = plan_weight_memory(c, model->weight_bytes_resident(), lo, b);
    fmt::print("cpu            {} ({})\n", kernels::cpu_features().model, kernels::cpu_features().flags());
    fmt::print("backend        {} ({}); available: {}\n", b.name(), b.isa(), kernels::available_backend_names());
    fmt::print("precision      {}\n", kernels::precision_name(lo.precision));
    fmt::print("weights        {} in memory ({})\n", human_bytes(static_cast<double>(plan.bytes)),
               plan.widen ? "widened to f32" : "stored dtype, mapped or packed once by the backend");
    fmt::print("activations    {} for a {}-token canvas\n", human_bytes(act), a.canvas);
    fmt::print("run needs      about {}\n", human_bytes(static_cast<double>(plan.bytes) + act));
    try {
        check_weight_memory(a.model, c, model->weight_bytes_resident(), lo, b, physical_memory());
        fmt::print("fits           yes ({} of memory)\n", human_bytes(static_cast<double>(physical_memory())));
    } catch (const Error& e) {
        fmt::print("fits           no: {}\n", e.what());
    }
    return 0;
}

}  // namespace

Runner add_inspect(CLI::App& app) {
    auto args = std::make_shared<InspectArgs>();
    CLI::App* cmd = app.add_subcommand("inspect", "Print a checkpoint's config, parameter count, dtypes and memory needs");
    cmd->add_option("model", args->model, "Checkpoint directory (Hugging Face layout)")->required();
    cmd->add_option("--canvas", args->canvas, "Canvas length (prompt + generation) for the memory estimate")
        ->default_val(160)->check(CLI::PositiveNumber);
    cmd->add_option("--weights", args->weights, "Weight precision in memory: auto, f32 or native")
        ->default_val("auto")->check(CLI::IsMember({"auto", "f32", "native"}));
    cmd->add_option("--backend", args->backend, "Backend to plan for: auto or a name (see generate --help)")->default_val("auto");
    cmd->add_option("--precision", args->precision, "Precision to plan for: f32 or bf16")->default_val("f32")
        ->check(CLI::IsMember({"f32", "bf16"}));
    return [args] { return run_inspect(*args); };
}

}  // namespace dlmscope::cli
