# `dlmscope analyze` against an independent numpy computation (label cli): runs the real binary on
# the tiny model (all heads f32, head-mean f16, statistics only), recomputes every metric from the
# maps with numpy alone and compares with metrics.csv, report.json and rollout.npy; also an
# incomplete run and bad inputs through the CLI.
add_test(NAME python.analysis-vs-numpy
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/python/test_analysis_numpy.py $<TARGET_FILE:dlmscope>
            ${PROJECT_SOURCE_DIR}/tests/fixtures/mmada-tiny/checkpoint ${CMAKE_CURRENT_BINARY_DIR}/python-analysis)
set_tests_properties(python.analysis-vs-numpy PROPERTIES LABELS "cli" TIMEOUT 300
    PASS_REGULAR_EXPRESSION "[0-9]+ passed, 0 failed" FAIL_REGULAR_EXPRESSION "FAIL:")
add_test(NAME cli.analyze-help COMMAND $<TARGET_FILE:dlmscope> analyze --help)
set_tests_properties(cli.analyze-help PROPERTIES LABELS "cli"
    PASS_REGULAR_EXPRESSION "--input.*--output.*--max-layers.*--prompt-length.*--max-tokens.*--verbose.*--no-visualizations")
