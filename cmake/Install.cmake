# cmake --install: headers, libraries and a package config, so that an outside project
# can do find_package(dzc CONFIG) and link dzc::dzc.
include(CMakePackageConfigHelpers)

set_target_properties(dzc dzc_runtime PROPERTIES INSTALL_RPATH "$ORIGIN")
install(TARGETS dzc dzc_runtime EXPORT dzcTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
# The CUDA device: dlopened by libdzc_runtime on the first use of Device::cuda().
if(TARGET dzc_cuda_runtime)
  set_target_properties(dzc_cuda_runtime PROPERTIES INSTALL_RPATH "$ORIGIN")
  install(TARGETS dzc_cuda_runtime LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
endif()
# The compiler's libraries: loaded by libdzc with dlopen (dz::compile), not linked, so they
# are installed beside it and not part of the exported targets.
if(DZ_BUILD_COMPILER)
  set(DZ_COMPILER_LIBS dzc_compiler dzc_codegen_cpu dzc_passes dzc_ir dzc_onnx dzc_codegen_onnx)
  if(TARGET dzc_codegen_cuda) # the CUDA back end, with the CUDA toolkit
    list(APPEND DZ_COMPILER_LIBS dzc_codegen_cuda dzc_cuda_executor)
  endif()
  # $ORIGIN for each other, LLVM's library folder for libMLIR.so / libLLVM.so.
  set_target_properties(${DZ_COMPILER_LIBS} PROPERTIES INSTALL_RPATH "$ORIGIN;${LLVM_LIBRARY_DIR}")
  install(TARGETS ${DZ_COMPILER_LIBS} LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
  set_target_properties(dz-opt dzc-cli PROPERTIES
    INSTALL_RPATH "$ORIGIN/../${CMAKE_INSTALL_LIBDIR};${LLVM_LIBRARY_DIR}")
  install(TARGETS dz-opt dzc-cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
install(DIRECTORY runtime/include/dzc frontend/include/dzc
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.h")
install(FILES ${PROJECT_BINARY_DIR}/include/dzc/version.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/dzc)

set(DZC_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/dzc)
install(EXPORT dzcTargets NAMESPACE dzc:: DESTINATION ${DZC_CMAKE_DIR})
configure_package_config_file(cmake/dzcConfig.cmake.in
  ${PROJECT_BINARY_DIR}/dzcConfig.cmake INSTALL_DESTINATION ${DZC_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/dzcConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/dzcConfig.cmake ${PROJECT_BINARY_DIR}/dzcConfigVersion.cmake
  DESTINATION ${DZC_CMAKE_DIR})
