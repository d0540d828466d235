// main() for GoogleTest programs that embed CPython: CPython is initialized
// once for the whole program (PYTHONPATH, set by CTest, finds the actors'
// modules); the main thread then releases the GIL so actor threads (legacy
// ones share it) can run.
#pragma once

#include <Python.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>

#include "shmring/spawner.hpp"

namespace shmring::testing {

inline int run_all_tests_in_embedded_python(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  PyConfig config;
  PyConfig_InitPythonConfig(&config);
  PyStatus status = Py_InitializeFromConfig(&config);
  PyConfig_Clear(&config);
  if (PyStatus_Exception(status)) Py_ExitStatusException(status);
  PyThreadState* main_thread = PyEval_SaveThread();
  const int rc = RUN_ALL_TESTS();
  // The documented host policy: with an abandoned actor still inside its
  // interpreter, CPython cannot finalize; leave without it.
  if (Spawner::counts().abandoned > 0) {
    std::fflush(nullptr);
    ::_exit(rc);
  }
  PyEval_RestoreThread(main_thread);
  return Py_FinalizeEx() < 0 ? 120 : rc;
}

}  // namespace shmring::testing
