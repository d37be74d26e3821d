// dlmscope: the run directory of a generation — what `dlmscope generate --save-history` writes and
// what analyze, plot, view and dlmscope.open_run read (docs/run-format.md). The CLI and the Python
// module both write runs through this one recorder.
//
//   RunRecorder rec(opts, engine->info(), params, prompt);  // OUT/NAME.json, "complete": false
//   auto handle = rec.tap() ? engine->attach(*rec.tap()) : Engine::ObserverHandle{};
//   try {
//       GenerateResult r = engine->generate(prompt.ids, params, callbacks);
//       rec.finish(r, text_of(r));                            // history, records, text; "complete": true
//   } catch (const std::exception& e) {
//       rec.abort(e);                                         // every completed step stays readable
//       throw;
//   }
//
// With capture on, each captured step is written as it completes (NAME/step_00017.npz), by a
// writer thread, and indexed in the manifest; a run stopped by a signal, an error or a full disk
// keeps every step written before it and says "complete": false with the reason.
#pragma once

#include "dlmscope/selection.h"
#include "dlmscope/tap.h"
#include "dlmscope/types.h"

#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <vector>

namespace dlmscope {

// What to do when OUT already holds a run under the manifest's name.
enum class ExistingRun {
    refuse,     // throw Error naming it (the CLI's default)
    overwrite,  // replace it: the old manifest and its arrays (only a dlmscope run is ever replaced)
    keep,       // keep it and write this run as NAME-2.json, NAME-3.json, … (the Python default)
};

struct RunOptions {
    std::string out_dir = "logs";
    std::string manifest = "generation_with_attention.json";
    ExistingRun existing = ExistingRun::refuse;
    bool capture = false;         // attention capture; off: the history and the step records only
    CaptureSelection selection;   // what capture keeps (parsed from the CLI's --capture-* syntax)
};

// The prompt as the manifest records it.
struct RunPrompt {
    std::string text;              // what the user typed ("" when given as ids)
    std::string rendered;          // after the chat template (or the ids decoded)
    std::string template_name;     // "mmada", "llada", "none", or "ids"
    std::vector<int32_t> ids;
};

// Throws the Error RunRecorder would throw for a run already in the way (ExistingRun::refuse), so a
// program can refuse before it spends minutes loading a model.
void check_run_target(const RunOptions& opts);

class RunRecorder {
public:
    // Validates the capture selection against the model, creates the directory and writes the
    // first manifest. Throws Error (bad selection, an existing run with refuse, an unwritable path).
    RunRecorder(const RunOptions& opts, const ModelInfo& model, const GenerateParams& params, const RunPrompt& prompt);
    ~RunRecorder();
    RunRecorder(const RunRecorder&) = delete;
    RunRecorder& operator=(const RunRecorder&) = delete;

    // The capture observer to attach to the engine for the generation; null without capture.
    AttentionTap* tap();

    // After a generation that returned: writes the history, the step records, the cache audit and
    // the text, and marks the run complete. Throws Error when a write fails.
    void finish(const GenerateResult& result, const RunText& text);
    // After a generation that threw: stops the capture (every completed step stays written and
    // indexed) and marks the run incomplete with the reason. Never throws.
    void abort(const std::exception& why) noexcept;

    const std::string& manifest_path() const;
    // What the manifest's "capture" field says, as JSON text ("" without capture).
    std::string capture_summary() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace dlmscope
