# Browser tests of the HTML viewer (label "cli"): node's test runner drives Debian's chromium
# through playwright-core (tests/browser/package.json; no browser is ever downloaded). The setup
# test installs playwright-core with `npm ci` when tests/browser/node_modules is missing.
# Screenshots go to <build>/tests/browser/ (viewer.png, viewer-hover.png, viewer-thin.png, viewer-cached.png).

set(_browser_dir ${CMAKE_CURRENT_SOURCE_DIR}/browser)
set(_browser_out ${CMAKE_CURRENT_BINARY_DIR}/browser)
find_program(DLMSCOPE_NODE node)
find_program(DLMSCOPE_NPM npm)

if(DLMSCOPE_NODE AND DLMSCOPE_NPM)
    add_test(NAME browser.npm-ci
        COMMAND ${CMAKE_COMMAND} -E env --unset=NODE_OPTIONS PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
            sh -c "test -d node_modules/playwright-core || '${DLMSCOPE_NPM}' ci --no-audit --no-fund --prefer-offline"
        WORKING_DIRECTORY ${_browser_dir})
    set_tests_properties(browser.npm-ci PROPERTIES LABELS cli TIMEOUT 300 FIXTURES_SETUP dlmscope_browser_npm)
    add_test(NAME browser.viewer
        COMMAND ${CMAKE_COMMAND} -E env
            DLMSCOPE_BIN=$<TARGET_FILE:dlmscope>
            DLMSCOPE_TINY=${PROJECT_SOURCE_DIR}/tests/fixtures/mmada-tiny/checkpoint
            DLMSCOPE_BROWSER_OUT=${_browser_out}
            ${DLMSCOPE_NODE} --test ${_browser_dir}/viewer.test.mjs
        WORKING_DIRECTORY ${_browser_dir})
    set_tests_properties(browser.viewer PROPERTIES LABELS cli TIMEOUT 300 FIXTURES_REQUIRED dlmscope_browser_npm)
else()
    # Registered anyway so that a machine without node fails loudly instead of skipping the viewer.
    add_test(NAME browser.viewer
        COMMAND ${CMAKE_COMMAND} -E echo "node and npm are missing: scripts/setup.sh installs them (browser tests of the viewer)")
    set_tests_properties(browser.viewer PROPERTIES LABELS cli WILL_FAIL TRUE)
endif()

# `dlmscope view` on bad input: one "dlmscope: error:" line naming the problem (cli/check.sh).
set(_view_check ${CMAKE_CURRENT_SOURCE_DIR}/cli/check.sh)
find_program(DLMSCOPE_BASH bash REQUIRED)
add_test(NAME cli-view-help COMMAND ${DLMSCOPE_BASH} ${_view_check} ok "--max-mb" "--out" -- $<TARGET_FILE:dlmscope> view --help)
add_test(NAME cli-view-missing-run COMMAND ${DLMSCOPE_BASH} ${_view_check} fail "/nonexistent/dlmscope-run" "does not exist"
    -- $<TARGET_FILE:dlmscope> view /nonexistent/dlmscope-run)
add_test(NAME cli-view-not-a-run COMMAND ${DLMSCOPE_BASH} ${_view_check} fail "holds no dlmscope run manifest"
    -- $<TARGET_FILE:dlmscope> view ${PROJECT_SOURCE_DIR}/tests/fixtures/mmada-tiny/runs/t0)
add_test(NAME cli-view-bad-max-mb COMMAND ${DLMSCOPE_BASH} ${_view_check} usage "--max-mb"
    -- $<TARGET_FILE:dlmscope> view ${_browser_out}/mean --max-mb 0)
set_tests_properties(cli-view-help cli-view-missing-run cli-view-not-a-run cli-view-bad-max-mb PROPERTIES LABELS cli TIMEOUT 60)
