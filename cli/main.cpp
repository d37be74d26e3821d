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
    cmds.emplace_back(nullptr, dlmscope::cli::add_generate(app));
    cmds.back().first = app.get_subcommands({}).back();
    cmds.emplace_back(nullptr, dlmscope::cli::add_inspect(app));
    cmds.back().first = app.get_subcommands({}).back();
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
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
