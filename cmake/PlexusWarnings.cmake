# Warnings for every target of this tree; errors in developer mode.
add_library(plexus_warnings INTERFACE)
target_compile_options(plexus_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
  -Wunused -Woverloaded-virtual -Wconversion -Wsign-conversion -Wnull-dereference
  -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough
  $<$<BOOL:${PLEXUS_DEVELOPER_MODE}>:-Werror>)
