# loom report: the core suite (fixture folders in a temporary directory), and both reports of a
# real training run and a sweep rendered by headless Chromium, which keeps one screenshot per
# chart type in Testing/report-screenshots/ of the build tree.
loom_add_core_test(report)
add_test(NAME cli/report_chromium
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/report_chromium.sh $<TARGET_FILE:loom> ${CMAKE_SOURCE_DIR}
                 ${CMAKE_BINARY_DIR}/Testing/report-screenshots)
set_tests_properties(cli/report_chromium PROPERTIES TIMEOUT 600)
