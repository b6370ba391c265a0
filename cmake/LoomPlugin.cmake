# loom_add_plugin(<name> KIND <kind> SOURCES <files...>)
#   Builds one plugin library, loom_<kind>_<name>.so, linked against loom::core, into the
#   folder the host searches (the build tree's plugin folder, or LOOM_PLUGIN_OUTPUT_DIR when
#   set by an out-of-tree project), and installs it beside the other plugins.
# loom_add_plugin_test(<name> KIND <kind> SOURCES <files...>)
#   Builds a Boost.Test executable test_<name> that finds the plugin through the real loader:
#   LOOM_TEST_PLUGIN_FILE is the path of the built library, LOOM_TEST_PLUGIN_DIR its folder.
include_guard(GLOBAL)

function(loom_add_plugin name)
  cmake_parse_arguments(arg "" "KIND" "SOURCES" ${ARGN})
  if(NOT arg_KIND)
    message(FATAL_ERROR "loom_add_plugin(${name}): KIND is required")
  endif()
  set(target loom_${arg_KIND}_${name})
  add_library(${target} MODULE ${arg_SOURCES})
  target_link_libraries(${target} PRIVATE loom::core)
  if(TARGET loom_project_options)
    target_link_libraries(${target} PRIVATE loom_project_options)
  endif()
  if(DEFINED LOOM_PLUGIN_OUTPUT_DIR)
    set(out ${LOOM_PLUGIN_OUTPUT_DIR})
  elseif(DEFINED LOOM_BUILD_PLUGIN_DIR)
    set(out ${LOOM_BUILD_PLUGIN_DIR})
  else()
    set(out ${CMAKE_BINARY_DIR}/plugins)
  endif()
  # Installed plugins sit in <prefix>/lib/loom/plugins and find libloom_core two levels up.
  set_target_properties(${target} PROPERTIES PREFIX "" LIBRARY_OUTPUT_DIRECTORY ${out}
                                             CXX_VISIBILITY_PRESET hidden
                                             INSTALL_RPATH "$ORIGIN/../..")
  if(DEFINED LOOM_INSTALL_PLUGIN_DIR)
    install(TARGETS ${target} LIBRARY DESTINATION ${LOOM_INSTALL_PLUGIN_DIR})
  endif()
endfunction()

function(loom_add_plugin_test name)
  cmake_parse_arguments(arg "" "KIND" "SOURCES" ${ARGN})
  set(plugin loom_${arg_KIND}_${name})
  set(target test_${arg_KIND}_${name})
  add_executable(${target} ${arg_SOURCES})
  target_link_libraries(${target} PRIVATE loom::core Boost::unit_test_framework)
  if(TARGET loom_project_options)
    target_link_libraries(${target} PRIVATE loom_project_options)
  endif()
  target_compile_definitions(${target} PRIVATE BOOST_TEST_DYN_LINK
      LOOM_TEST_PLUGIN_FILE="$<TARGET_FILE:${plugin}>"
      LOOM_TEST_PLUGIN_DIR="$<TARGET_FILE_DIR:${plugin}>")
  add_dependencies(${target} ${plugin})
  add_test(NAME ${arg_KIND}/${name} COMMAND ${target})
endfunction()
