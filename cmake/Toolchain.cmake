# Compiler settings shared by every target: warnings, ccache, lld, sanitizers.

find_program(CCACHE_PROGRAM ccache)
if(CCACHE_PROGRAM)
  set(CMAKE_C_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
  set(CMAKE_CXX_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
endif()

find_program(LLD_PROGRAM ld.lld)
if(LLD_PROGRAM)
  add_link_options(-fuse-ld=lld)
endif()

add_compile_options(-Wall -Wextra -Wno-unused-parameter)
# No code of ours reads errno after math calls or traps on FP exceptions; without these
# two, GCC neither inlines sqrt nor if-converts float selects, so kernels stay scalar.
add_compile_options(-fno-math-errno -fno-trapping-math)
# GCC 12 reports bogus -Wrestrict warnings from inside libstdc++ (std::string's operator+
# inlined at -O2); a known false positive of that release, not a problem in our code.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  add_compile_options(-Wno-restrict)
endif()
if(CMAKE_BUILD_TYPE STREQUAL "Release")
  add_compile_options(-march=x86-64-v3)
endif()

if(DZ_SANITIZE)
  message(STATUS "dzc: building with -fsanitize=${DZ_SANITIZE}")
  add_compile_options(-fsanitize=${DZ_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${DZ_SANITIZE})
endif()

# dz_target_defaults(target): include dirs and options common to our libraries.
function(dz_target_defaults target)
  target_compile_features(${target} PUBLIC cxx_std_20)
endfunction()
