dlmscope_add_test(NAME test-core SOURCES unit/test-core.cpp LABELS unit)
dlmscope_add_test(NAME test-tokenizer SOURCES unit/test-tokenizer.cpp LABELS unit)
dlmscope_add_test(NAME test-checkpoint SOURCES unit/test-checkpoint.cpp LABELS unit)
dlmscope_add_test(NAME test-config SOURCES unit/test-config.cpp LABELS unit)
dlmscope_add_test(NAME test-model SOURCES unit/test-model.cpp ${PROJECT_SOURCE_DIR}/tools/checkpoint-writer.cpp LABELS unit)
dlmscope_add_test(NAME test-capture SOURCES unit/test-capture.cpp LABELS unit LIBS dlmscope_capture)
dlmscope_add_test(NAME test-kernels SOURCES unit/test-kernels.cpp LABELS unit)
dlmscope_add_test(NAME test-analysis SOURCES unit/test-analysis.cpp ${PROJECT_SOURCE_DIR}/tools/synthetic-run.cpp LABELS unit LIBS dlmscope_analysis)
target_include_directories(test-analysis PRIVATE ${PROJECT_SOURCE_DIR})
add_dependencies(test-analysis dlmscope)  # the cached-run tests capture with the real binary
dlmscope_add_test(NAME test-render SOURCES unit/test-render.cpp LABELS unit LIBS dlmscope_render PkgConfig::CAIRO)
add_dependencies(test-render dlmscope)  # the tests capture their runs with the real binary
dlmscope_add_test(NAME test-sampler SOURCES unit/test-sampler.cpp LABELS unit)

# Module boundaries (docs/architecture.md): the engine never includes capture, analysis or render;
# analysis and render never include the engine.
find_package(Python3 COMPONENTS Interpreter)
if(Python3_Interpreter_FOUND)
    add_test(NAME layering COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tests/layering.py ${PROJECT_SOURCE_DIR})
    set_tests_properties(layering PROPERTIES LABELS unit)
endif()
