// consumer MODEL_DIR OUT_DIR: generate with the attention of layer 1 kept in memory, write the run
// directory as the CLI does, analyse it, and print what a user would check.
#include <dlmscope/analysis.h>
#include <dlmscope/capture.h>
#include <dlmscope/engine.h>
#include <dlmscope/run.h>

#include <cstdio>

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: consumer MODEL_DIR OUT_DIR\n");
        return 2;
    }
    try {
        auto engine = dlmscope::Engine::load(argv[1]);
        dlmscope::GenerateParams p = engine->default_params();
        p.gen_length = 32, p.block_length = 16, p.steps = 8;
        const std::vector<int32_t> prompt = engine->encode_chat("Why is the sky blue?");

        dlmscope::RunOptions ro;
        ro.out_dir = argv[2];
        ro.capture = true;
        ro.selection.parse_layers("1");
        dlmscope::RunRecorder run(ro, engine->info(), p, {"Why is the sky blue?", engine->apply_chat_template("Why is the sky blue?"), "auto", prompt});
        dlmscope::AttentionRecorder memory;
        auto h1 = engine->attach(*run.tap());
        auto h2 = engine->attach(memory);
        const dlmscope::GenerateResult r = engine->generate(prompt, p);
        const dlmscope::RunText text = engine->text(r);
        run.finish(r, text);

        dlmscope::AnalysisOptions ao;
        ao.input = run.manifest_path();
        ao.output = std::string(argv[2]) + "/analysis";
        ao.figures = false;
        const dlmscope::AnalysisResult a = dlmscope::analyze(ao);
        std::printf("steps %zu maps %zu analysed %d layers %zu\n", r.steps.size(), memory.maps().size(), a.steps, a.layers.size());
        std::printf("text %s\n", text.text.c_str());
    } catch (const dlmscope::Error& e) {
        std::fprintf(stderr, "consumer: %s\n", e.what());
        return 1;
    }
    return 0;
}
