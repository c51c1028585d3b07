# MLIR 22 for the compiler (ir/, passes/, codegen/, tools/): finds the Debian package,
# brings in TableGen/AddLLVM/AddMLIR and defines `dz_mlir`, the interface target that
# carries MLIR's include dirs (SYSTEM: their headers don't warn), definitions and the
# monolithic libMLIR.so. Never link the static libMLIR*.a next to it.

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

# mlir_target_link_libraries() links MLIR (libMLIR.so) instead of the static libraries.
set(MLIR_LINK_MLIR_DYLIB ON)

include_directories(SYSTEM ${LLVM_INCLUDE_DIRS} ${MLIR_INCLUDE_DIRS})
separate_arguments(DZ_LLVM_DEFINITIONS NATIVE_COMMAND "${LLVM_DEFINITIONS}")

add_library(dz_mlir INTERFACE)
target_include_directories(dz_mlir SYSTEM INTERFACE ${LLVM_INCLUDE_DIRS} ${MLIR_INCLUDE_DIRS})
target_compile_options(dz_mlir INTERFACE ${DZ_LLVM_DEFINITIONS})
# libMLIR.so does not list libLLVM.so in its imported target: link both.
target_link_libraries(dz_mlir INTERFACE MLIR LLVM)

# Tools used by the lit tests (tests/ir).
find_program(DZ_LIT lit HINTS ${LLVM_TOOLS_BINARY_DIR} /usr/lib/llvm-22/bin NO_DEFAULT_PATH)
find_program(DZ_FILECHECK FileCheck HINTS ${LLVM_TOOLS_BINARY_DIR} /usr/lib/llvm-22/bin
  NO_DEFAULT_PATH)
