# Run at every build (cmake -P): writes OUT, a C++ file with the commit the source tree SRC
# has checked out and whether it has uncommitted changes, rewriting it only when these change
# (so an unchanged tree relinks nothing). "unknown" outside a git checkout or without git.
set(commit "unknown")
set(dirty "false")
find_program(git_program git)
if(git_program)
  execute_process(COMMAND ${git_program} -C ${SRC} rev-parse --verify --quiet HEAD
                  OUTPUT_VARIABLE head RESULT_VARIABLE rc OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(rc EQUAL 0 AND head MATCHES "^[0-9a-f]+$")
    set(commit ${head})
    execute_process(COMMAND ${git_program} -C ${SRC} status --porcelain --untracked-files=no
                    OUTPUT_VARIABLE changes RESULT_VARIABLE rc ERROR_QUIET)
    if(rc EQUAL 0 AND NOT changes STREQUAL "")
      set(dirty "true")
    endif()
  endif()
endif()
file(WRITE ${OUT}.new "// Written at build time by cmake/LoomBuildStamp.cmake.\n"
                      "namespace loom {\n"
                      "const char* build_commit() { return \"${commit}\"; }\n"
                      "bool build_tree_dirty() { return ${dirty}; }\n"
                      "}  // namespace loom\n")
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different ${OUT}.new ${OUT})
file(REMOVE ${OUT}.new)
