// shmring-host: a C++ program that embeds CPython, starts Python actors in
// sub-interpreters and talks to them over shmring channels.
//
//   shmring-host [--config isolated|legacy] [--actors N] [--messages M] [ENTRY]
//
// ENTRY ("package.module:function", default echo_actor:main) must be
// importable: set PYTHONPATH to include it and the shmring package. Each of
// the N actors gets M messages; the host prints each reply, then closes the
// channel and prints what the actor returned.
#include <Python.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unistd.h>
#include <vector>

#include "shmring/shmring.hpp"
#include "shmring/spawner.hpp"

namespace {

struct Args {
  shmring::InterpreterConfig config = shmring::InterpreterConfig::isolated;
  int actors = 2;
  int messages = 3;
  std::string entry = "echo_actor:main";
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr, "shmring-host: %s\nusage: shmring-host [--config isolated|legacy] [--actors N] [--messages M] [ENTRY]\n", why);
  std::exit(2);
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value after " + arg).c_str());
      return argv[++i];
    };
    if (arg == "--config") {
      const std::string v = value();
      if (v == "isolated") a.config = shmring::InterpreterConfig::isolated;
      else if (v == "legacy") a.config = shmring::InterpreterConfig::legacy;
      else usage("--config takes isolated or legacy");
    } else if (arg == "--actors") {
      a.actors = std::atoi(value().c_str());
    } else if (arg == "--messages") {
      a.messages = std::atoi(value().c_str());
    } else if (!arg.empty() && arg[0] == '-') {
      usage(("unknown option " + arg).c_str());
    } else {
      a.entry = arg;
    }
  }
  if (a.actors < 1 || a.messages < 0) usage("--actors must be >= 1 and --messages >= 0");
  return a;
}

std::string text(const std::vector<std::byte>& b) { return std::string(reinterpret_cast<const char*>(b.data()), b.size()); }

int run(const Args& args) {
  // The actors take a shmring._core.Endpoint: shmring's runner hands them one.
  shmring::Spawner spawner({.runner = "shmring._actor", .pool = {}});
  std::vector<shmring::Actor> actors;
  for (int i = 0; i < args.actors; ++i) {
    shmring::SpawnRequest req;
    req.entry = args.entry;
    req.args = "actor " + std::to_string(i) + ": ";
    req.config = args.config;
    req.name = "host-actor-" + std::to_string(i);
    actors.push_back(spawner.spawn(std::move(req)));
  }
  int failures = 0;
  for (int i = 0; i < args.actors; ++i) {
    shmring::Endpoint& ch = actors[i].channel();
    std::vector<std::byte> reply;
    for (int m = 0; m < args.messages; ++m) {
      const std::string message = "message " + std::to_string(m);
      if (ch.send(std::as_bytes(std::span(message.data(), message.size()))) != shmring::Status::ok ||
          ch.recv_for(reply, std::chrono::seconds(30)) != shmring::Status::ok) {
        std::printf("actor %d: channel failed: %s\n", i, ch.reason().c_str());
        ++failures;
        break;
      }
      std::printf("actor %d replied: %s\n", i, text(reply).c_str());
    }
    ch.close();
  }
  for (int i = 0; i < args.actors; ++i) {
    if (!actors[i].join(std::chrono::seconds(30))) actors[i].kill(std::chrono::seconds(1));
    const std::string state(shmring::to_string(actors[i].state()));
    if (actors[i].state() == shmring::ActorState::exited) {
      std::printf("actor %d %s, returned: %s\n", i, state.c_str(), actors[i].result().c_str());
    } else {
      std::printf("actor %d %s:\n%s\n", i, state.c_str(), actors[i].error().c_str());
      ++failures;
    }
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  PyConfig config;
  PyConfig_InitPythonConfig(&config);  // honours PYTHONPATH and the other PYTHON* variables
  PyStatus status = Py_InitializeFromConfig(&config);
  PyConfig_Clear(&config);
  if (PyStatus_Exception(status)) Py_ExitStatusException(status);
  // Actors create their interpreters on their own threads; legacy ones share
  // the main GIL, so this thread must not hold it while it waits for them.
  PyThreadState* main_thread = PyEval_SaveThread();
  int rc;
  try {
    rc = run(args);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "shmring-host: %s\n", e.what());
    rc = 1;
  }
  // An abandoned actor is still inside its interpreter: CPython cannot
  // finalize then (it would abort), so leave without finalizing.
  if (shmring::Spawner::counts().abandoned > 0) {
    std::fflush(nullptr);
    ::_exit(rc);
  }
  PyEval_RestoreThread(main_thread);
  if (Py_FinalizeEx() < 0) rc = 120;
  return rc;
}
