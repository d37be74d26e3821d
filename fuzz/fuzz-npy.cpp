// Fuzzes the .npy reader (parse_npy, which read_npy calls on the file's bytes) and the converting
// accessors: an accepted array holds exactly size() × item_size() bytes.
#include "core/npy.h"
#include "fuzz-util.h"

using namespace dlmscope;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        const NpyArray a = parse_npy(data, size, "fuzz.npy");
        DLM_ASSERT(a.size() >= 0);
        DLM_ASSERT(a.data.size() == static_cast<size_t>(a.size()) * a.item_size());
        // Each accessor either converts every element or throws Error for the dtype.
        try { DLM_ASSERT(a.as_f32().size() == static_cast<size_t>(a.size())); } catch (const Error&) {}
        try { DLM_ASSERT(a.as_f64().size() == static_cast<size_t>(a.size())); } catch (const Error&) {}
        try { DLM_ASSERT(a.as_i64().size() == static_cast<size_t>(a.size())); } catch (const Error&) {}
    } catch (const Error& e) {
        fuzz::rejected(e);
    }
    return 0;
}
