// dlmscope — run masked-diffusion LMs (MMaDA/LLaDA) and see inside their attention.
#include "cli/commands.h"
#include "core/error.h"

#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <vector>

#ifndef DLMSCOPE_DEFAULT_MODEL
#define DLMSCOPE_DEFAULT_MODEL ""
#endif

namespace dlmscope::cli {

std::string default_model_dir() {
    if (const char* env = std::getenv("DLMSCOPE_MODEL"); env && *env) return env;
    return DLMSCOPE_DEFAULT_MODEL;
}

}  // namespace dlmscope::cli

int main(int argc, char** argv) {
    CLI::App app{"dlmscope: run masked-diffusion language models (MMaDA, LLaDA) and capture their attention"};
    app.require_subcommand(1);
    app.set_version_flag("--version", "dlmscope 0.1.0");
    std::vector<std::pair<CLI::App*, dlmscope::cli::Runner>> cmds;
    for (auto add : {dlmscope::cli::add_generate, dlmscope::cli::add_inspect, dlmscope::cli::add_analyze, dlmscope::cli::add_plot,
                     dlmscope::cli::add_view}) {
        dlmscope::cli::Runner run = add(app);
        cmds.emplace_back(app.get_subcommands({}).back(), std::move(run));
    }
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
        fmt::print(stderr, "dlmscope: error: {} (see dlmscope {} --help)\n", e.what(),
                   app.get_subcommands().empty() ? "" : app.get_subcommands().back()->get_name());
        return e.get_exit_code();
    }
    try {
        for (auto& [sub, run] : cmds)
            if (sub->parsed()) return run();
    } catch (const dlmscope::Cancelled& e) {
        fmt::print(stderr, "dlmscope: {}\n", e.what());
        return 130;
    } catch (const dlmscope::Error& e) {
        fmt::print(stderr, "dlmscope: error: {}\n", e.what());
        return 1;
    } catch (const std::exception& e) {
        fmt::print(stderr, "dlmscope: error: {}\n", e.what());
        return 1;
    }
    return 1;
}
