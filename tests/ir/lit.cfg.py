# lit.cfg.py - the lit tests of dz IR: every *.mlir under tests/ir (dialect/, transforms/,
# dzc/), run with dz-opt, dzc, FileCheck and not from this build's bin/ and LLVM 22's bin/
# (in that order). Run through ctest (ir.lit.dialect, ir.lit.transforms, ir.lit.dzc) or
# `lit -sv <build>/tests/ir` (all) or `lit -sv <build>/tests/ir/FOLDER`.
import os

import lit.formats

config.name = "dz-ir"
config.test_format = lit.formats.ShTest(execute_external=True)
config.suffixes = [".mlir"]

config.test_source_root = getattr(config, "dz_test_source_root", os.path.dirname(__file__))
config.test_exec_root = getattr(config, "dz_test_exec_root", config.test_source_root)
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py.in", "Inputs"]

tools_dir = getattr(config, "dz_tools_dir", os.environ.get("DZ_TOOLS_DIR", ""))
llvm_tools_dir = getattr(config, "llvm_tools_dir", "/usr/lib/llvm-22/bin")
if not tools_dir or not os.path.exists(os.path.join(tools_dir, "dz-opt")):
    lit_config.fatal("dz-opt not found in '%s': run lit on the build's tests/ir folder "
                     "(or set DZ_TOOLS_DIR to the build's bin/)" % tools_dir)
config.environment["PATH"] = os.pathsep.join(
    [tools_dir, llvm_tools_dir, config.environment.get("PATH", os.environ.get("PATH", ""))])
