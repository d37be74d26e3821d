// Fuzzes the .npz reader (parse_npz, which read_npz calls on the file's bytes): the zip directory,
// local headers, stored and deflated members, CRCs, and each member's .npy image.
#include "capture/npz.h"
#include "fuzz-util.h"

using namespace dlmscope;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        for (const auto& [name, a] : parse_npz(data, size, "fuzz.npz")) {
            DLM_ASSERT(a.size() >= 0);
            DLM_ASSERT(a.data.size() == static_cast<size_t>(a.size()) * a.item_size());
        }
    } catch (const Error& e) {
        fuzz::rejected(e);
    }
    return 0;
}
