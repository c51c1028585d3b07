# cmake/OpDocs.cmake - the op reference docs/ops.md, generated from the dialect's ODS.
# Run in script mode (cmake -D... -P cmake/OpDocs.cmake), in one of two ways:
#
#   -DIN=<mlir-tblgen -gen-op-doc output> -DOUT=<file>
#       writes the page: a header, an index of every op with its summary (linked to its
#       section), then mlir-tblgen's sections unchanged. ir/CMakeLists.txt runs this at
#       build time into build/docs/ops.md (target dz-op-docs).
#   -DGENERATED=<build/docs/ops.md> -DCOMMITTED=<docs/ops.md>
#       fails, with a diff and the command that refreshes it, when the committed page is
#       not the generated one (the test docs.ops_reference_current).

if(DEFINED GENERATED)
  foreach(f GENERATED COMMITTED)
    if(NOT EXISTS "${${f}}")
      message(FATAL_ERROR "OpDocs: ${${f}} does not exist (build the target dz-op-docs)")
    endif()
  endforeach()
  file(READ "${GENERATED}" generated)
  file(READ "${COMMITTED}" committed)
  if(NOT generated MATCHES "\n### `dz\\.")
    message(FATAL_ERROR "OpDocs: ${GENERATED} lists no dz op: mlir-tblgen wrote no reference")
  endif()
  if(NOT generated STREQUAL committed)
    find_program(DZ_DIFF diff)
    if(DZ_DIFF)
      execute_process(COMMAND ${DZ_DIFF} -u "${COMMITTED}" "${GENERATED}")
    endif()
    message(FATAL_ERROR "${COMMITTED} is not the op reference generated from the ODS in "
      "ir/ (${GENERATED}); refresh it with scripts/gen-op-docs.sh and commit it")
  endif()
  return()
endif()

if(NOT DEFINED IN OR NOT DEFINED OUT)
  message(FATAL_ERROR "OpDocs: pass -DIN=... -DOUT=... or -DGENERATED=... -DCOMMITTED=...")
endif()

file(READ "${IN}" body)
# CMake lists split on ';' (and not inside '[...]'): hide the semicolons while the text is
# handled as a list, put them back when it is written.
string(REPLACE ";" "@DZ_SEMICOLON@" body "${body}")
# Drop mlir-tblgen's own banner; the page carries one that says how to refresh it.
string(REGEX REPLACE "^<!--[^\n]*-->\n+" "" body "${body}")

# One entry per op: its heading and the summary line right after it.
string(REGEX MATCHALL "\n### `dz\\.[^`]+` \\([A-Za-z0-9_]+\\)\n\n_[^\n]*_\n" entries "\n${body}")
set(index "| op | summary |\n| --- | --- |\n")
set(count 0)
foreach(entry IN LISTS entries)
  string(REGEX MATCH "### `(dz\\.[^`]+)` \\(([A-Za-z0-9_]+)\\)\n\n_([^\n]*)_" _ "${entry}")
  set(op "${CMAKE_MATCH_1}")
  set(cls "${CMAKE_MATCH_2}")
  set(summary "${CMAKE_MATCH_3}")
  string(REPLACE "|" "\\|" summary "${summary}")
  # The anchor GitHub and most renderers give the heading "`dz.add` (AddOp)": lower case,
  # punctuation dropped but '_' and '-', spaces as '-'.
  string(TOLOWER "${op} ${cls}" anchor)
  string(REGEX REPLACE "[^a-z0-9_ -]" "" anchor "${anchor}")
  string(REPLACE " " "-" anchor "${anchor}")
  string(APPEND index "| [`${op}`](#${anchor}) | ${summary} |\n")
  math(EXPR count "${count} + 1")
endforeach()
if(count EQUAL 0)
  message(FATAL_ERROR "OpDocs: no op found in ${IN}")
endif()

set(page "<!-- Generated from the ODS in ir/ (DzOps.td and what it includes) by mlir-tblgen \
-gen-op-doc and cmake/OpDocs.cmake. Do not edit: change the op's summary or description and \
run scripts/gen-op-docs.sh. -->

# `dz` op reference

The ${count} ops of the `dz` dialect in alphabetical order, each as its definition in `ir/*.td`
states it: what it computes, its textual form with an example, its operands, attributes and
results, and its traits. [ir.md](ir.md) is the overview: element types, broadcasting, how to
read a traced module, autodiff, fusion and the passes.

${index}
## Ops

${body}")
string(REPLACE "@DZ_SEMICOLON@" ";" page "${page}")
file(WRITE "${OUT}" "${page}")
