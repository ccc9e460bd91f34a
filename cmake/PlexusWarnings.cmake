# Warnings for every target of this tree; errors in developer mode. (-Wnull-dereference is left
# out: with -O2, g++ 12 reports it inside libstdc++ itself, e.g. for istreambuf_iterator.)
add_library(plexus_warnings INTERFACE)
target_compile_options(plexus_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
  -Wunused -Woverloaded-virtual -Wconversion -Wsign-conversion
  -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough
  $<$<BOOL:${PLEXUS_DEVELOPER_MODE}>:-Werror>)
