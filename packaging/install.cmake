# Install rules and packages (TETHER_INSTALL; on by default for a top-level build).
#   development: headers, the library, the CMake package (tether::tether) and tether.pc
#   runtime:     tetherd, its man page and systemd unit
# `cpack -G DEB` in the build directory makes libtether-dev (development) and tetherd
# (runtime).
include(CMakePackageConfigHelpers)
set(TETHER_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/tether)

install(TARGETS tether EXPORT tetherTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT development
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT development
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
# include/tether/load/ belongs to tether_load, which is not installed.
install(DIRECTORY include/tether DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  COMPONENT development FILES_MATCHING PATTERN "*.hpp" PATTERN "load" EXCLUDE)
install(FILES ${PROJECT_BINARY_DIR}/include/tether/version.hpp
              ${PROJECT_BINARY_DIR}/include/tether/export.hpp
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/tether COMPONENT development)
install(EXPORT tetherTargets NAMESPACE tether:: DESTINATION ${TETHER_CMAKE_DIR}
  COMPONENT development)
configure_package_config_file(packaging/tetherConfig.cmake.in
  ${PROJECT_BINARY_DIR}/tetherConfig.cmake INSTALL_DESTINATION ${TETHER_CMAKE_DIR})
# 0.x: a minor version may break the API, so only the same MAJOR.MINOR is compatible.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/tetherConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/tetherConfig.cmake ${PROJECT_BINARY_DIR}/tetherConfigVersion.cmake
  DESTINATION ${TETHER_CMAKE_DIR} COMPONENT development)

# tether.pc finds its prefix from where it lies, so the same file serves an install and a
# package. A static libtether cannot link without libuv, so libuv is a plain requirement
# there (pkg-config --libs tether works without --static); the shared library records it
# itself, so there it is only needed for static linking.
file(RELATIVE_PATH TETHER_PC_UP "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
if(tether_shared)
  set(TETHER_PC_REQUIRES "Requires.private")
else()
  set(TETHER_PC_REQUIRES "Requires")
endif()
# Built with the Redis mailbox, libtether needs hiredis as it needs libuv.
if(TETHER_REDIS)
  set(TETHER_PC_DEPS "libuv hiredis")
else()
  set(TETHER_PC_DEPS "libuv")
endif()
configure_file(packaging/tether.pc.in ${PROJECT_BINARY_DIR}/tether.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/tether.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig
  COMPONENT development)

if(TETHER_TETHERD)
  if(tether_shared)
    # Installed next to its library, wherever the prefix is.
    file(RELATIVE_PATH tether_bin_to_lib "/prefix/${CMAKE_INSTALL_BINDIR}"
         "/prefix/${CMAKE_INSTALL_LIBDIR}")
    set_target_properties(tetherd PROPERTIES INSTALL_RPATH "$ORIGIN/${tether_bin_to_lib}")
  endif()
  install(TARGETS tetherd RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)
  install(FILES ${PROJECT_BINARY_DIR}/tetherd.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1
    COMPONENT runtime)
  # For the package (/usr/bin/tetherd); a prefix install gets it as an example to adapt.
  install(FILES packaging/tetherd.service DESTINATION lib/systemd/system COMPONENT runtime)
endif()
if(TARGET tether-load)
  # The load generator, next to tetherd (it links the engine statically: no library to find).
  install(TARGETS tether-load RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)
endif()

# Packages only from a top-level static build: a parent's own CPack set-up stays its own, and
# a shared libtether would need a runtime library package of its own.
if(NOT PROJECT_IS_TOP_LEVEL)
  return()
endif()
if(tether_shared)
  message(STATUS "tether: cpack makes the Debian packages from a static build "
                 "(TETHER_SHARED=OFF); this shared build has none")
  return()
endif()

set(CPACK_PACKAGE_NAME tether)
set(CPACK_PACKAGE_VENDOR "tether")
set(CPACK_PACKAGE_CONTACT "tether developers <tether@users.noreply.github.com>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_GENERATOR DEB)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL development runtime)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "${PROJECT_HOMEPAGE_URL}")
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_NAME libtether-dev)
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_DEPENDS "libuv1-dev (>= 1.44), pkgconf | pkg-config")
if(TETHER_REDIS)
  string(APPEND CPACK_DEBIAN_DEVELOPMENT_PACKAGE_DEPENDS ", libhiredis-dev (>= 0.14)")
endif()
# The first line is the package's summary; CPack indents the lines after it.
set(CPACK_DEBIAN_DEVELOPMENT_DESCRIPTION
  "C++20 HTTP/1.1 server library on libuv (development files)
Headers, the static library (llhttp folded in), the CMake package tether::tether
and tether.pc.")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME tetherd)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION httpd)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_RUNTIME_DESCRIPTION
  "HTTP/1.1 server built on the tether library
With a systemd unit (tetherd.service) that runs it as an unprivileged user and
stops it gracefully with SIGTERM.")
include(CPack)
