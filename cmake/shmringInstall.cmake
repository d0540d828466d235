# Install rules and the CMake package (find_package(shmring CONFIG)).
#
# Each installable library calls, next to its add_library:
#
#   shmring_install_library(<target> EXPORT_NAME <name> [INCLUDE_DIR <dir>])
#
# which installs it into the export set as shmring::<name> with its public
# headers (everything under INCLUDE_DIR, default <its directory>/include,
# goes to <prefix>/include: keep them in include/shmring/, and give the
# target $<INSTALL_INTERFACE:include> next to its $<BUILD_INTERFACE:...>).
# The package config learns which names were installed and looks up only
# their dependencies: a library with a new public third-party dependency gets
# an if(shmring_<name>_FOUND) block in shmringConfig.cmake.in.
#
# Whatever an exported target links PUBLIC or INTERFACE (and, for a static
# library, PRIVATE: its users link that too) must be imported from another
# package or exported here; internal helpers such as shmring_warnings go in
# as $<BUILD_INTERFACE:...>, or install(EXPORT) fails.
#
# The top-level CMakeLists calls shmring_install_package() once, after every
# add_subdirectory that installs a library.

include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(SHMRING_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/shmring"
    CACHE STRING "Where the shmring CMake package files go (relative to the prefix)")

# scikit-build-core's wheel must hold only the Python package (shim/ installs
# it), so SKBUILD turns every rule here off.
function(shmring_install_enabled out)
  if(SHMRING_INSTALL AND NOT SKBUILD)
    set(${out} TRUE PARENT_SCOPE)
  else()
    set(${out} FALSE PARENT_SCOPE)
  endif()
endfunction()

function(shmring_install_library target)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "EXPORT_NAME;INCLUDE_DIR" "")
  if(NOT arg_EXPORT_NAME)
    message(FATAL_ERROR "shmring_install_library(${target}): EXPORT_NAME is required")
  endif()
  # Even without install rules: the build-tree alias and the imported target
  # must agree on the name.
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${arg_EXPORT_NAME})
  shmring_install_enabled(enabled)
  if(NOT enabled)
    return()
  endif()
  if(NOT arg_INCLUDE_DIR)
    set(arg_INCLUDE_DIR "${CMAKE_CURRENT_SOURCE_DIR}/include")
  endif()

  install(TARGETS ${target} EXPORT shmringTargets
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
      COMPONENT shmring_runtime NAMELINK_COMPONENT shmring_development
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT shmring_development
    RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT shmring_runtime)
  if(IS_DIRECTORY "${arg_INCLUDE_DIR}")
    install(DIRECTORY "${arg_INCLUDE_DIR}/" DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
      COMPONENT shmring_development
      FILES_MATCHING PATTERN "*.hpp" PATTERN "*.h")
  endif()
  set_property(GLOBAL APPEND PROPERTY SHMRING_INSTALLED_EXPORTS ${arg_EXPORT_NAME})
endfunction()

# A program: to bin, finding the installed shmring libraries next door and
# the libraries it was linked with from outside the build (libpython) where
# they were.
function(shmring_install_program target)
  shmring_install_enabled(enabled)
  if(NOT enabled)
    return()
  endif()
  file(RELATIVE_PATH bin_to_lib "${CMAKE_INSTALL_FULL_BINDIR}" "${CMAKE_INSTALL_FULL_LIBDIR}")
  set_target_properties(${target} PROPERTIES
    INSTALL_RPATH "$ORIGIN/${bin_to_lib}"
    INSTALL_RPATH_USE_LINK_PATH TRUE)
  install(TARGETS ${target} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT shmring_runtime)
endfunction()

function(shmring_install_package)
  shmring_install_enabled(enabled)
  if(NOT enabled)
    return()
  endif()
  get_property(SHMRING_INSTALLED_EXPORTS GLOBAL PROPERTY SHMRING_INSTALLED_EXPORTS)
  if("spawner" IN_LIST SHMRING_INSTALLED_EXPORTS)
    set(SHMRING_PYTHON_VERSION "${Python_VERSION_MAJOR}.${Python_VERSION_MINOR}")
  endif()

  install(EXPORT shmringTargets NAMESPACE shmring:: FILE shmringTargets.cmake
    DESTINATION ${SHMRING_INSTALL_CMAKEDIR} COMPONENT shmring_development)
  configure_package_config_file(
    "${PROJECT_SOURCE_DIR}/cmake/shmringConfig.cmake.in"
    "${PROJECT_BINARY_DIR}/shmringConfig.cmake"
    INSTALL_DESTINATION ${SHMRING_INSTALL_CMAKEDIR}
    NO_SET_AND_CHECK_MACRO)
  write_basic_package_version_file("${PROJECT_BINARY_DIR}/shmringConfigVersion.cmake"
    VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
  install(FILES "${PROJECT_BINARY_DIR}/shmringConfig.cmake" "${PROJECT_BINARY_DIR}/shmringConfigVersion.cmake"
    DESTINATION ${SHMRING_INSTALL_CMAKEDIR} COMPONENT shmring_development)
endfunction()
