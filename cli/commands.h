// dlmscope CLI: one file per subcommand; each registers itself on the CLI11 app and returns the
// callback to run when it was chosen.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>

namespace dlmscope::cli {

using Runner = std::function<int()>;

Runner add_generate(CLI::App& app);
Runner add_inspect(CLI::App& app);
Runner add_analyze(CLI::App& app);
Runner add_plot(CLI::App& app);
Runner add_view(CLI::App& app);

// The model used when --model is not given: $DLMSCOPE_MODEL, else the bundled default model.
std::string default_model_dir();

}  // namespace dlmscope::cli
