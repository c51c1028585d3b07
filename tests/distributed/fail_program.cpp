// fail_program.cpp - a job whose last rank fails while the others wait in an all-reduce
// (check_failure.sh): `throw` lets an exception escape main, `exit` returns 1 from main
// without finalize(). Either way the job must end with an error naming that rank. `stall`
// keeps the last rank busy without collectives: the others' timeout ends the job.
#include <dzc/distributed.h>

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>

int main(int argc, char **argv) {
  namespace D = dz::distributed;
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode != "throw" && mode != "exit" && mode != "stall") {
    std::fprintf(stderr, "usage: dz_distributed_fail throw|exit|stall\n");
    return 2;
  }
  D::init();
  dz::Tensor t = dz::Tensor::from({1, 2, 3}, {3});
  D::all_reduce(t); // every rank is up
  if (D::rank() == D::world_size() - 1) {
    if (mode == "throw")
      throw std::runtime_error("injected failure on rank " + std::to_string(D::rank()));
    if (mode == "stall")
      std::this_thread::sleep_for(std::chrono::minutes(10));
    std::fprintf(stderr, "rank %d: returning 1 without finalize()\n", D::rank());
    return 1;
  }
  for (;;) // the others wait for a partner that never comes
    D::all_reduce(t);
}
