# Contract suites (test_contracts.cpp): every plugin built into the build tree's plugin folder
# is loaded and checked against the contract of its kind. Included from tests/CMakeLists.txt.
add_executable(test_contracts ${CMAKE_CURRENT_LIST_DIR}/test_contracts.cpp)
target_link_libraries(test_contracts PRIVATE loom::core Boost::unit_test_framework)
if(TARGET loom_project_options)
  target_link_libraries(test_contracts PRIVATE loom_project_options)
endif()
target_compile_definitions(test_contracts PRIVATE BOOST_TEST_DYN_LINK
                                                  LOOM_TEST_PLUGIN_DIR="${LOOM_BUILD_PLUGIN_DIR}")

# Every plugin must be built before the suite runs; a new plugin folder is picked up here
# without editing this file (its target is loom_<kind>_<name>).
file(GLOB loom_contract_plugin_dirs LIST_DIRECTORIES true ${CMAKE_CURRENT_LIST_DIR}/../plugins/*/*)
foreach(dir IN LISTS loom_contract_plugin_dirs)
  get_filename_component(name ${dir} NAME)
  get_filename_component(kind_dir ${dir} DIRECTORY)
  get_filename_component(kind ${kind_dir} NAME)
  if(TARGET loom_${kind}_${name})
    add_dependencies(test_contracts loom_${kind}_${name})
  endif()
endforeach()

add_test(NAME contracts COMMAND test_contracts)
