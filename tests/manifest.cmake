# The run manifest (test_manifest.cpp): SHA-256 vectors, git commit lookup, and the manifest of
# a registry that loaded every plugin of the build tree. Included from tests/CMakeLists.txt.
loom_add_core_test(manifest)
target_compile_definitions(test_manifest PRIVATE LOOM_TEST_PLUGIN_DIR="${LOOM_BUILD_PLUGIN_DIR}"
                                                 LOOM_TEST_SOURCE_DIR="${PROJECT_SOURCE_DIR}")

# Every plugin must be built before the suite hashes it (targets are loom_<kind>_<name>).
file(GLOB loom_manifest_plugin_dirs LIST_DIRECTORIES true ${CMAKE_CURRENT_LIST_DIR}/../plugins/*/*)
foreach(dir IN LISTS loom_manifest_plugin_dirs)
  get_filename_component(name ${dir} NAME)
  get_filename_component(kind_dir ${dir} DIRECTORY)
  get_filename_component(kind ${kind_dir} NAME)
  if(TARGET loom_${kind}_${name})
    add_dependencies(test_manifest loom_${kind}_${name})
  endif()
endforeach()
