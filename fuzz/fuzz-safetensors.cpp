// Fuzzes one .safetensors file: the 8-byte header length, the JSON header and every tensor's
// dtype, shape and data_offsets. Every tensor SafetensorsFile accepts must hold exactly the bytes
// its data_offsets name in the input, as many as its shape and dtype need.
#include "core/dtype.h"
#include "core/json.h"
#include "engine/checkpoint/safetensors.h"
#include "fuzz-util.h"

#include <cstring>

using namespace dlmscope;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const fuzz::ScratchDir dir("safetensors");
    const std::string path = dir.write("model.safetensors", data, size);
    try {
        const SafetensorsFile f(path);
        if (f.tensors().empty()) return 0;
        // Accepted, so the header is there and is JSON: read the offsets again, independently.
        uint64_t n = 0;
        std::memcpy(&n, data, 8);
        const uint8_t* section = data + 8 + n;
        const json header = json::parse(data + 8, section);
        for (const auto& [name, t] : f.tensors()) {
            DLM_ASSERT(t.name == name && t.file == path);
            DLM_ASSERT(t.nbytes == static_cast<size_t>(t.numel()) * dtype_size(t.dtype));
            const uint64_t b = header[name]["data_offsets"][0], e = header[name]["data_offsets"][1];
            DLM_ASSERT(e - b == t.nbytes);
            // The view reads the mapped file; the input buffer is heap memory ASan guards exactly.
            DLM_ASSERT(t.nbytes == 0 || std::memcmp(t.data, section + b, t.nbytes) == 0);
        }
    } catch (const Error& e) {
        fuzz::rejected(e);
    }
    return 0;
}
