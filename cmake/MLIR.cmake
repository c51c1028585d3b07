# MLIR 22 for the compiler (ir/, passes/, codegen/, tools/): finds the Debian package,
# brings in TableGen/AddLLVM/AddMLIR and defines `dz_mlir`, the interface target that
# carries MLIR's include dirs (SYSTEM: their headers don't warn), definitions and the
# monolithic libMLIR.so. Never link the static libMLIR*.a next to it.
#
# DZ_STATIC_MLIR=ON (scripts/gpu-bundle.sh, for a machine without LLVM/MLIR): dz_mlir links
# MLIR's and LLVM's static archives instead, and the libraries of ours that use MLIR
# (DZ_MLIR_LIBRARY_TYPE) become static: each program or shared library that links them holds
# one copy of what it uses of MLIR (libdzc_compiler.so, dz_cuda_codegen_tests), none of
# libMLIR.so/libLLVM.so. Only those targets are meant to be built in such a build folder: a
# process that loaded two such copies would hold MLIR twice.

# MLIRConfigVersion.cmake only accepts requests of the same major.minor, so a plain
# "22" request (read as 22.0) would be refused: find it, then check the major.
find_package(MLIR CONFIG REQUIRED HINTS /usr/lib/llvm-22/lib/cmake/mlir)
if(NOT LLVM_VERSION_MAJOR EQUAL 22)
  message(FATAL_ERROR "dzc: MLIR 22 is required, found LLVM ${LLVM_PACKAGE_VERSION} at "
    "${MLIR_DIR}; pass -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir")
endif()
message(STATUS "dzc: MLIR ${LLVM_PACKAGE_VERSION} from ${MLIR_DIR}")

list(APPEND CMAKE_MODULE_PATH ${MLIR_CMAKE_DIR} ${LLVM_CMAKE_DIR})
include(TableGen)
include(AddLLVM)
include(AddMLIR)

option(DZ_STATIC_MLIR "Link MLIR and LLVM statically (the GPU bundle's build)" OFF)
if(DZ_STATIC_MLIR)
  set(DZ_MLIR_LIBRARY_TYPE STATIC)
  set(MLIR_LINK_MLIR_DYLIB OFF)
else()
  set(DZ_MLIR_LIBRARY_TYPE SHARED)
  # mlir_target_link_libraries() links MLIR (libMLIR.so) instead of the static libraries.
  set(MLIR_LINK_MLIR_DYLIB ON)
endif()

include_directories(SYSTEM ${LLVM_INCLUDE_DIRS} ${MLIR_INCLUDE_DIRS})
separate_arguments(DZ_LLVM_DEFINITIONS NATIVE_COMMAND "${LLVM_DEFINITIONS}")

add_library(dz_mlir INTERFACE)
target_include_directories(dz_mlir SYSTEM INTERFACE ${LLVM_INCLUDE_DIRS} ${MLIR_INCLUDE_DIRS})
target_compile_options(dz_mlir INTERFACE ${DZ_LLVM_DEFINITIONS})
if(DZ_STATIC_MLIR)
  # Every archive of MLIR and LLVM: the linker takes only the members something refers to
  # (ld.lld needs no group; GNU ld gets one). --gc-sections then drops the unused functions
  # of those members (the archives are built with -ffunction-sections).
  file(GLOB DZ_MLIR_ARCHIVES ${LLVM_LIBRARY_DIR}/libMLIR*.a ${LLVM_LIBRARY_DIR}/libLLVM*.a)
  list(LENGTH DZ_MLIR_ARCHIVES n)
  if(n EQUAL 0)
    message(FATAL_ERROR "dzc: DZ_STATIC_MLIR needs MLIR's static archives (libMLIR*.a) in "
      "${LLVM_LIBRARY_DIR}")
  endif()
  message(STATUS "dzc: linking ${n} static archives of MLIR/LLVM (DZ_STATIC_MLIR)")
  # LLVMSupport's compression (Debian ships libzstd.so.1 without the development link).
  find_library(DZ_ZSTD_LIBRARY NAMES zstd libzstd.so.1 REQUIRED)
  target_link_libraries(dz_mlir INTERFACE -Wl,--start-group ${DZ_MLIR_ARCHIVES} -Wl,--end-group
    -Wl,--push-state,--as-needed ${DZ_ZSTD_LIBRARY} ZLIB::ZLIB -Wl,--pop-state ${CMAKE_DL_LIBS}
    pthread)
  target_link_options(dz_mlir INTERFACE -Wl,--gc-sections)
else()
  # libMLIR.so does not list libLLVM.so in its imported target: link both.
  target_link_libraries(dz_mlir INTERFACE MLIR LLVM)
endif()

# Tools used by the lit tests (tests/ir).
find_program(DZ_LIT lit HINTS ${LLVM_TOOLS_BINARY_DIR} /usr/lib/llvm-22/bin NO_DEFAULT_PATH)
find_program(DZ_FILECHECK FileCheck HINTS ${LLVM_TOOLS_BINARY_DIR} /usr/lib/llvm-22/bin
  NO_DEFAULT_PATH)
