# plexus_add_plugin(NAME <name> SOURCES <files...> [LIBRARIES <targets...>])
#
# Builds one plugin two ways from the same sources:
#   <name>     MODULE  <name>.so  exporting exactly the plexus_plugin_entry symbol (loaded in-process)
#   <name>-bin EXECUTABLE <name>  a standalone CNI binary (PLEXUS_PLUGIN also emits main())
# Output folders: PLEXUS_PLUGIN_OUTPUT_DIR and PLEXUS_CNI_BIN_OUTPUT_DIR when set, else the current
# binary dir's plugins/ and cni-bin/.
set(_plexus_add_plugin_dir "${CMAKE_CURRENT_LIST_DIR}")

function(plexus_add_plugin)
  cmake_parse_arguments(PARSE_ARGV 0 arg "" "NAME" "SOURCES;LIBRARIES")
  if(NOT arg_NAME OR NOT arg_SOURCES)
    message(FATAL_ERROR "plexus_add_plugin: NAME and SOURCES are required")
  endif()
  set(plugin_dir "${PLEXUS_PLUGIN_OUTPUT_DIR}")
  if(NOT plugin_dir)
    set(plugin_dir "${CMAKE_CURRENT_BINARY_DIR}/plugins")
  endif()
  set(bin_dir "${PLEXUS_CNI_BIN_OUTPUT_DIR}")
  if(NOT bin_dir)
    set(bin_dir "${CMAKE_CURRENT_BINARY_DIR}/cni-bin")
  endif()

  # Only the entry alias is exported: Boost headers otherwise leak dozens of default-visibility
  # symbols, and two plugins' inline code could interpose each other.
  set(version_script "${CMAKE_CURRENT_BINARY_DIR}/${arg_NAME}.plugin.ver")
  file(WRITE "${version_script}" "{ global: plexus_plugin_entry; local: *; };\n")

  add_library(${arg_NAME} MODULE ${arg_SOURCES})
  target_link_libraries(${arg_NAME} PRIVATE plexus::plugin ${arg_LIBRARIES})
  target_link_options(${arg_NAME} PRIVATE "LINKER:--version-script=${version_script}" "LINKER:--no-undefined")
  set_target_properties(${arg_NAME} PROPERTIES
    PREFIX "" OUTPUT_NAME "${arg_NAME}" LIBRARY_OUTPUT_DIRECTORY "${plugin_dir}"
    CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON
    LINK_DEPENDS "${version_script}")

  add_executable(${arg_NAME}-bin ${arg_SOURCES})
  target_link_libraries(${arg_NAME}-bin PRIVATE plexus::plugin_main ${arg_LIBRARIES})
  target_compile_definitions(${arg_NAME}-bin PRIVATE PLEXUS_PLUGIN_STANDALONE=1)
  set_target_properties(${arg_NAME}-bin PROPERTIES OUTPUT_NAME "${arg_NAME}" RUNTIME_OUTPUT_DIRECTORY "${bin_dir}")
endfunction()
