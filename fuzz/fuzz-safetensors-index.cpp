// Fuzzes model.safetensors.index.json: SafetensorsCheckpoint on a directory holding the input next
// to the two real shards of tests/fixtures/mmada-tiny/checkpoint. Every tensor the checkpoint then
// lists must be found by get(), in the shard the index names.
#include "core/json.h"
#include "engine/checkpoint/safetensors.h"
#include "fuzz-util.h"

#include <filesystem>

using namespace dlmscope;
namespace fs = std::filesystem;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const fuzz::ScratchDir dir("safetensors-index");
    static const bool shards_copied = [] {
        const fs::path shards = fs::path(DLMSCOPE_SOURCE_DIR) / "tests/fixtures/mmada-tiny/checkpoint";
        for (const char* name : {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"})
            fs::copy_file(shards / name, dir.path() / name);
        return true;
    }();
    (void)shards_copied;
    dir.write("model.safetensors.index.json", data, size);
    try {
        const SafetensorsCheckpoint ckpt(dir.path().string());
        const json index = json::parse(data, data + size);  // accepted, so it is JSON with a weight_map
        for (const auto& [name, view] : ckpt.all()) {
            DLM_ASSERT(&ckpt.get(name) == view && ckpt.has(name));
            DLM_ASSERT(view->file == (dir.path() / index["weight_map"][name].get<std::string>()).string());
        }
        // A tensor the index names but no shard holds: an Error naming the shard, never a crash.
        for (const auto& [name, file] : index["weight_map"].items())
            if (!ckpt.has(name)) {
                try {
                    ckpt.get(name);
                    DLM_ASSERT(false);
                } catch (const Error&) {
                }
            }
    } catch (const Error& e) {
        fuzz::rejected(e);
    }
    return 0;
}
