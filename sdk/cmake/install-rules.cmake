# Installs the SDK as the CMake package plexus-sdk: headers, static libraries, exported targets,
# a version file, and plexus_add_plugin().
include(CMakePackageConfigHelpers)

set(PLEXUS_SDK_CMAKE_DIR "${CMAKE_INSTALL_LIBDIR}/cmake/plexus-sdk")

install(DIRECTORY "${PROJECT_SOURCE_DIR}/sdk/include/" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}" COMPONENT sdk)
install(TARGETS plexus_abi plexus_cni plexus_exec plexus_net plexus_ipam plexus_plugin plexus_plugin_main
        EXPORT plexus-sdk-targets
        ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT sdk
        INCLUDES DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
set_target_properties(plexus_abi PROPERTIES EXPORT_NAME abi)
set_target_properties(plexus_plugin PROPERTIES EXPORT_NAME plugin)
install(EXPORT plexus-sdk-targets NAMESPACE plexus:: DESTINATION "${PLEXUS_SDK_CMAKE_DIR}" COMPONENT sdk)

configure_package_config_file("${PROJECT_SOURCE_DIR}/sdk/cmake/plexus-sdk-config.cmake.in"
  "${PROJECT_BINARY_DIR}/plexus-sdk-config.cmake" INSTALL_DESTINATION "${PLEXUS_SDK_CMAKE_DIR}")
write_basic_package_version_file("${PROJECT_BINARY_DIR}/plexus-sdk-config-version.cmake"
  VERSION "${PROJECT_VERSION}" COMPATIBILITY SameMajorVersion)
install(FILES "${PROJECT_BINARY_DIR}/plexus-sdk-config.cmake"
              "${PROJECT_BINARY_DIR}/plexus-sdk-config-version.cmake"
              "${PROJECT_SOURCE_DIR}/sdk/cmake/PlexusAddPlugin.cmake"
        DESTINATION "${PLEXUS_SDK_CMAKE_DIR}" COMPONENT sdk)
