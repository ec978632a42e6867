# Installs the build into a fresh prefix, then compiles and links
# examples/hello.c against it with nothing but pkg-config, as a user would.
# Variables: BUILD_DIR, PREFIX, LIBDIR, EXAMPLE, CC, EXTRA_FLAGS (sanitizer
# builds).
file(REMOVE_RECURSE ${PREFIX})
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${PREFIX}
                RESULT_VARIABLE rc OUTPUT_QUIET)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install failed (${rc})")
endif()

set(ENV{PKG_CONFIG_PATH} ${PREFIX}/${LIBDIR}/pkgconfig)
foreach(mode shared static)
  set(pc_args "")
  if(mode STREQUAL "static")
    set(pc_args --static)
  endif()
  execute_process(COMMAND pkg-config ${pc_args} --cflags --libs gcclient
                  OUTPUT_VARIABLE flags RESULT_VARIABLE rc OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "pkg-config does not know gcclient under ${PREFIX}")
  endif()
  separate_arguments(flags UNIX_COMMAND "${flags}")
  separate_arguments(extra UNIX_COMMAND "${EXTRA_FLAGS}")
  if(mode STREQUAL "static")
    # Only libgcclient is taken statically: its .a is what this checks.
    list(TRANSFORM flags REPLACE "^-lgcclient$" "${PREFIX}/${LIBDIR}/libgcclient.a")
  endif()
  execute_process(COMMAND ${CC} -Wall -Werror ${extra} ${EXAMPLE} ${flags}
                          -o ${PREFIX}/hello-${mode}
                  RESULT_VARIABLE rc ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${mode} build of the example failed:\n${err}")
  endif()
endforeach()
message(STATUS "example built against ${PREFIX} (shared and static)")
