target_sources(dlmscope_core PRIVATE
    src/core/dtype.cpp
    src/core/error.cpp
    src/core/file.cpp
    src/core/json.cpp
    src/core/mmap.cpp
    src/core/npy.cpp
    src/core/progress.cpp
)
