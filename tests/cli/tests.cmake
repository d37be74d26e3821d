# CLI tests: the real dlmscope binary on the tiny fixture checkpoint, label "cli".
#
# Each case is one CTest entry run through cli/check.sh, which checks the exit status and the
# output (see its header): `ok`/`quiet` cases must exit 0 and print the given text; `fail` cases
# must exit non-zero with exactly one "dlmscope: error: ..." line on stderr that names the file,
# key or value. The corrupt checkpoints are built at test time from the good one by
# cli/make-bad-checkpoints.py (CTest fixture dlmscope_cli_work); the t0 fixture run is reproduced
# and its manifest and history.npy checked by cli/check-run.py.

set(_cli_tiny ${PROJECT_SOURCE_DIR}/tests/fixtures/mmada-tiny/checkpoint)
set(_cli_t0 ${PROJECT_SOURCE_DIR}/tests/fixtures/mmada-tiny/runs/t0)
set(_cli_work ${CMAKE_CURRENT_BINARY_DIR}/cli-work)
set(_cli_check ${CMAKE_CURRENT_SOURCE_DIR}/cli/check.sh)
set(_cli_bin $<TARGET_FILE:dlmscope>)
# The t0 fixture's prompt (meta.json fixture.prompt_ids) and schedule.
set(_cli_t0_ids "282,284,84,82,260,285,198,54,71,268,220,267,263,276,64,79,273,64,75,279,69,220,37,81,269,66,68,30,286,284,64,82,82,267,83,269,83,285,198")
set(_cli_t0_args --gen-length 64 --block-length 16 --steps 32)
find_program(DLMSCOPE_BASH bash REQUIRED)
# The system interpreter first: it is the one scripts/setup.sh gives numpy (python3-numpy).
if(NOT DEFINED Python3_EXECUTABLE AND EXISTS /usr/bin/python3)
    set(Python3_EXECUTABLE /usr/bin/python3)
endif()
find_package(Python3 COMPONENTS Interpreter)

# dlmscope_cli_test(NAME MODE [TEXT...] -- ARGS...): runs `dlmscope ARGS...` through check.sh.
function(dlmscope_cli_test name mode)
    set(_requires)
    if(Python3_Interpreter_FOUND)
        set(_requires dlmscope_cli_work)
    endif()
    add_test(NAME cli-${name} COMMAND ${DLMSCOPE_BASH} ${_cli_check} ${mode} ${ARGN})
    set_tests_properties(cli-${name} PROPERTIES LABELS cli SKIP_RETURN_CODE 77 TIMEOUT 120
        FIXTURES_REQUIRED "${_requires}" WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
endfunction()

# ---- good runs -----------------------------------------------------------------------------
dlmscope_cli_test(help ok "Usage" "generate" "inspect" -- ${_cli_bin} --help)
dlmscope_cli_test(generate-help ok "--gen-length" "--block-length" "--steps" "--save-history" "--prompt-ids"
    -- ${_cli_bin} generate --help)
dlmscope_cli_test(version ok "dlmscope" -- ${_cli_bin} --version)
dlmscope_cli_test(inspect ok "parameters     147776" "BF16: 21 tensors, 147776 parameters" "layers         2"
    "model-00001-of-00002.safetensors" -- ${_cli_bin} inspect ${_cli_tiny})
# generate -q on the t0 fixture, its stdout against the fixture's text: cli-generate-t0* below
# (every backend, native weights, the model from $DLMSCOPE_MODEL).

# ---- bad input: one line on stderr naming the file, key or value; non-zero exit ---------------
set(_gen ${_cli_bin} generate --prompt-ids ${_cli_t0_ids} ${_cli_t0_args} -q)
set(_w ${_cli_work})
dlmscope_cli_test(bad-gen-length fail "gen_length 60 is not a multiple of block_length 16"
    -- ${_cli_bin} generate --prompt-ids ${_cli_t0_ids} --model ${_cli_tiny} --gen-length 60 --block-length 16 --steps 32 -q)
dlmscope_cli_test(bad-steps fail "steps 30 is not a multiple of the number of blocks 4"
    -- ${_cli_bin} generate --prompt-ids ${_cli_t0_ids} --model ${_cli_tiny} --gen-length 64 --block-length 16 --steps 30 -q)
dlmscope_cli_test(bad-cache-cfg fail "cfg_scale 1 is not supported with cache dual"
    -- ${_cli_bin} generate --prompt-ids ${_cli_t0_ids} --model ${_cli_tiny} ${_cli_t0_args} --cache dual --cfg-scale 1 -q)
dlmscope_cli_test(bad-parallel-threshold fail "parallel_threshold must lie strictly between 0 and 1" "1.5"
    -- ${_cli_bin} generate --prompt-ids ${_cli_t0_ids} --model ${_cli_tiny} ${_cli_t0_args} --parallel-threshold 1.5 -q)
dlmscope_cli_test(bad-cache-refresh-without-cache fail "cache_refresh 2 needs a cache"
    -- ${_cli_bin} generate --prompt-ids ${_cli_t0_ids} --model ${_cli_tiny} ${_cli_t0_args} --cache-refresh 2 -q)
dlmscope_cli_test(bad-cache-audit-without-run fail "--cache-audit records the drift into the run directory"
    -- ${_cli_bin} generate --prompt-ids ${_cli_t0_ids} --model ${_cli_tiny} ${_cli_t0_args} --cache dual --cache-audit -q)
dlmscope_cli_test(bad-cache-audit-without-cache fail "cache_audit needs a cache"
    -- ${_cli_bin} generate --prompt-ids ${_cli_t0_ids} --model ${_cli_tiny} ${_cli_t0_args} --cache-audit --save-history --out ${_cli_work}/audit-none -q)
dlmscope_cli_test(bad-cache-mode fail "--cache" "bogus"
    -- ${_cli_bin} generate --prompt-ids ${_cli_t0_ids} --model ${_cli_tiny} ${_cli_t0_args} --cache bogus -q)
dlmscope_cli_test(bad-prompt-ids fail "--prompt-ids" "'x'"
    -- ${_cli_bin} generate --prompt-ids 282,x,198 --model ${_cli_tiny} ${_cli_t0_args} -q)
dlmscope_cli_test(bad-prompt-ids-negative fail "--prompt-ids" "'-5'"
    -- ${_cli_bin} generate --prompt-ids 282,-5 --model ${_cli_tiny} ${_cli_t0_args} -q)
dlmscope_cli_test(bad-prompt-ids-empty-entry fail "--prompt-ids" "empty entry"
    -- ${_cli_bin} generate --prompt-ids 282,,198 --model ${_cli_tiny} ${_cli_t0_args} -q)
dlmscope_cli_test(bad-prompt-id-outside-vocab fail "prompt token id 999" "0..319"
    -- ${_cli_bin} generate --prompt-ids 282,999 --model ${_cli_tiny} ${_cli_t0_args} -q)
dlmscope_cli_test(bad-model-path fail "model path /nonexistent/dlmscope-model does not exist"
    -- ${_gen} --model /nonexistent/dlmscope-model)
dlmscope_cli_test(bad-model-path-is-file fail "${_cli_tiny}/config.json" "is not a directory"
    -- ${_gen} --model ${_cli_tiny}/config.json)
dlmscope_cli_test(bad-model-path-inspect fail "model path /nonexistent/dlmscope-model does not exist"
    -- ${_cli_bin} inspect /nonexistent/dlmscope-model)
dlmscope_cli_test(bad-gen-length-flag usage "--gen-length"
    -- ${_cli_bin} generate --prompt-ids ${_cli_t0_ids} --model ${_cli_tiny} --gen-length abc)
dlmscope_cli_test(bad-weights-flag usage "--weights"
    -- ${_cli_bin} inspect ${_cli_tiny} --weights bf16)
dlmscope_cli_test(bad-backend-flag usage "--backend" "avx9000"
    -- ${_cli_bin} generate --prompt-ids ${_cli_t0_ids} --model ${_cli_tiny} --backend avx9000)
dlmscope_cli_test(bad-precision-flag usage "--precision" "f8"
    -- ${_cli_bin} generate --prompt-ids ${_cli_t0_ids} --model ${_cli_tiny} --precision f8)
dlmscope_cli_test(bad-backend-inspect fail "unknown backend 'avx9000'" "reference"
    -- ${_cli_bin} inspect ${_cli_tiny} --backend avx9000)
dlmscope_cli_test(inspect-backend ok "backend        reference" "precision      bf16" "available:" "fits           yes"
    -- ${_cli_bin} inspect ${_cli_tiny} --backend reference --precision bf16)
dlmscope_cli_test(generate-bf16 quiet "an"
    -- ${_cli_bin} generate --prompt-ids ${_cli_t0_ids} --model ${_cli_tiny} ${_cli_t0_args} --precision bf16 -q)

if(Python3_Interpreter_FOUND)
    add_test(NAME cli-setup-bad-checkpoints
        COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/cli/make-bad-checkpoints.py ${_cli_tiny} ${_cli_work})
    set_tests_properties(cli-setup-bad-checkpoints PROPERTIES LABELS cli FIXTURES_SETUP dlmscope_cli_work)

    dlmscope_cli_test(bad-truncated-shard fail "${_w}/truncated/model-00002-of-00002.safetensors" "data_offsets" "truncated"
        -- ${_gen} --model ${_w}/truncated)
    dlmscope_cli_test(bad-truncated-header fail "${_w}/truncated-header/model-00001-of-00002.safetensors"
        "header length 1272 exceeds the file size 200" -- ${_gen} --model ${_w}/truncated-header)
    dlmscope_cli_test(bad-header-length fail "${_w}/header-length/model-00001-of-00002.safetensors" "header length"
        "exceeds the file size" -- ${_gen} --model ${_w}/header-length)
    dlmscope_cli_test(bad-offsets fail "${_w}/offsets/model-00001-of-00002.safetensors"
        "model.transformer.blocks.0.q_proj.weight" "data_offsets" -- ${_gen} --model ${_w}/offsets)
    dlmscope_cli_test(bad-dtype-i8 fail "${_w}/dtype-i8/model-00002-of-00002.safetensors"
        "model.transformer.blocks.1.k_proj.weight" "dtype I8" -- ${_gen} --model ${_w}/dtype-i8)
    dlmscope_cli_test(bad-dtype-f64 fail "${_w}/dtype-f64/model-00002-of-00002.safetensors"
        "model.transformer.blocks.1.k_proj.weight" "dtype F64" -- ${_gen} --model ${_w}/dtype-f64)
    dlmscope_cli_test(bad-dtype-inspect fail "dtype-i8/model-00002-of-00002.safetensors" "dtype I8"
        -- ${_cli_bin} inspect ${_w}/dtype-i8)
    dlmscope_cli_test(bad-missing-tensor fail "${_w}/missing-tensor" "missing tensor 'model.transformer.blocks.1.k_proj.weight'"
        "model.safetensors.index.json does not list it"
        -- ${_gen} --model ${_w}/missing-tensor)
    dlmscope_cli_test(bad-shape fail "${_w}/shape/model-00001-of-00002.safetensors"
        "model.transformer.blocks.0.q_proj.weight" "[32, 128]" "expected [64, 64]" -- ${_gen} --model ${_w}/shape)
    dlmscope_cli_test(bad-config-block-type fail "${_w}/config-block-type/config.json" "block_type" "\"sequential\""
        -- ${_gen} --model ${_w}/config-block-type)
    dlmscope_cli_test(bad-config-include-bias fail "${_w}/config-include-bias/config.json" "include_bias = true"
        -- ${_gen} --model ${_w}/config-include-bias)
    dlmscope_cli_test(bad-config-weight-tying fail "${_w}/config-weight-tying/config.json" "weight_tying = true"
        -- ${_gen} --model ${_w}/config-weight-tying)
    dlmscope_cli_test(bad-config-heads fail "${_w}/config-heads/config.json" "n_heads = 5"
        -- ${_gen} --model ${_w}/config-heads)
    dlmscope_cli_test(bad-config-malformed fail "${_w}/config-malformed/config.json" "malformed JSON"
        -- ${_gen} --model ${_w}/config-malformed)
    dlmscope_cli_test(bad-config-inspect fail "${_w}/config-weight-tying/config.json" "weight_tying = true"
        -- ${_cli_bin} inspect ${_w}/config-weight-tying)
    dlmscope_cli_test(bad-prompt-too-long fail "prompt (39 tokens)" "gen_length (64)" "max_sequence_length 40"
        -- ${_gen} --model ${_w}/short-context)
    # Shard names in the index are data: leaving the model directory is refused, symlinks are not.
    dlmscope_cli_test(bad-index-escape fail "${_w}/index-escape/model.safetensors.index.json"
        "weight_map['model.transformer.blocks.1.k_proj.weight'] '../model-00002-of-00002.safetensors' leaves"
        -- ${_gen} --model ${_w}/index-escape)
    dlmscope_cli_test(bad-index-absolute fail "${_w}/index-absolute/model.safetensors.index.json" "is the absolute path"
        -- ${_gen} --model ${_w}/index-absolute)
    dlmscope_cli_test(inspect-symlinked-snapshot ok "BF16: 21 tensors, 147776 parameters"
        -- ${_cli_bin} inspect ${_w}/symlinked-snapshot)
    dlmscope_cli_test(bad-tokenizer-json fail "${_w}/tokenizer-malformed/tokenizer.json"
        -- ${_gen} --model ${_w}/tokenizer-malformed)
    dlmscope_cli_test(bad-model-path-unreadable --skip-if-root fail "${_w}/locked"
        -- ${_gen} --model ${_w}/locked)

    # ---- the t0 fixture through the CLI: manifest output_ids == meta.json generated_ids -------
    set(_run ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/cli/check-run.py)
    add_test(NAME cli-generate-t0 COMMAND ${_run} generate ${_cli_bin} ${_cli_tiny} ${_cli_t0} ${_w}/t0-run)
    add_test(NAME cli-generate-t0-old-spellings
        COMMAND ${_run} generate ${_cli_bin} ${_cli_tiny} ${_cli_t0} ${_w}/t0-old-spellings --old-spellings)
    add_test(NAME cli-generate-t0-text-prompt
        COMMAND ${_run} generate ${_cli_bin} ${_cli_tiny} ${_cli_t0} ${_w}/t0-text --text)
    add_test(NAME cli-generate-t0-native-weights
        COMMAND ${_run} generate ${_cli_bin} ${_cli_tiny} ${_cli_t0} ${_w}/t0-native --native-weights)
    add_test(NAME cli-generate-t0-model-from-env
        COMMAND ${_run} generate ${_cli_bin} ${_cli_tiny} ${_cli_t0} ${_w}/t0-env --model-from-env)
    set_tests_properties(cli-generate-t0 cli-generate-t0-old-spellings cli-generate-t0-text-prompt
        cli-generate-t0-native-weights cli-generate-t0-model-from-env PROPERTIES
        LABELS cli TIMEOUT 120 FIXTURES_REQUIRED dlmscope_cli_work)
    set_tests_properties(cli-generate-t0 PROPERTIES FIXTURES_SETUP dlmscope_cli_t0_run)
    # Every backend reproduces the official run token for token at f32 (skipped where the CPU lacks it).
    foreach(_be amx avx512-bf16 avx512 avx2 openblas reference)
        add_test(NAME cli-generate-t0-backend-${_be}
            COMMAND ${_run} generate ${_cli_bin} ${_cli_tiny} ${_cli_t0} ${_w}/t0-backend-${_be} --backend=${_be})
        set_tests_properties(cli-generate-t0-backend-${_be} PROPERTIES
            LABELS cli TIMEOUT 120 SKIP_RETURN_CODE 77 FIXTURES_REQUIRED dlmscope_cli_work)
    endforeach()
    # Each Fast-dLLM fixture run through the CLI, its provenance read back with numpy.
    foreach(_fr prefix dual none-thr0.2 prefix-thr0.2 dual-thr0.2)
        add_test(NAME cli-fast-dllm-${_fr}
            COMMAND ${_run} fast ${_cli_bin} ${_cli_tiny} ${PROJECT_SOURCE_DIR}/tests/fixtures/fast-dllm-tiny/runs/${_fr} ${_w}/fast-${_fr})
        set_tests_properties(cli-fast-dllm-${_fr} PROPERTIES LABELS cli TIMEOUT 120 SKIP_RETURN_CODE 77)
    endforeach()
    add_test(NAME cli-history-numpy COMMAND ${_run} numpy ${_w}/t0-run ${_cli_t0})
    set_tests_properties(cli-history-numpy PROPERTIES LABELS cli SKIP_RETURN_CODE 77 TIMEOUT 60
        FIXTURES_REQUIRED "dlmscope_cli_work;dlmscope_cli_t0_run")
endif()
