// Embeds CPython, starts echo_actor.py in an isolated sub-interpreter, sends
// it one message over the actor's shmring channel and checks the echo.
// The `shmring` Python package must be importable (PYTHONPATH, e.g. the
// site-packages of a venv where `pip install .` put it). Exits 0 on success.
#include <Python.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <span>
#include <string>
#include <vector>

#include "shmring/shmring.hpp"
#include "shmring/spawner.hpp"

namespace {

int run() {
  // The actor takes a shmring._core.Endpoint: shmring's runner hands it one.
  shmring::Spawner spawner({.runner = "shmring._actor", .pool = {}});
  shmring::SpawnRequest request;
  request.entry = "echo_actor:main";
  request.args = "echo: ";
  request.sys_path = {ECHO_ACTOR_DIR};
  shmring::Actor actor = spawner.spawn(std::move(request));

  shmring::Endpoint& ch = actor.channel();
  const std::string message = "hello from C++";
  std::vector<std::byte> reply;
  const auto start = std::chrono::steady_clock::now();
  shmring::Status s = ch.send(std::as_bytes(std::span(message)));
  if (s == shmring::Status::ok) s = ch.recv_for(reply, std::chrono::seconds(30));
  const std::chrono::duration<double, std::milli> elapsed = std::chrono::steady_clock::now() - start;
  ch.close();  // the actor's recv raises EOFError: it returns

  if (!actor.join(std::chrono::seconds(30))) actor.kill(std::chrono::seconds(1));
  const std::string text(reinterpret_cast<const char*>(reply.data()), reply.size());
  if (s != shmring::Status::ok || text != "echo: " + message || actor.state() != shmring::ActorState::exited) {
    std::printf("spawner_echo: FAILED: channel %s, reply \"%s\", actor %s\n%s\n",
                std::string(shmring::to_string(s)).c_str(), text.c_str(),
                std::string(shmring::to_string(actor.state())).c_str(), actor.error().c_str());
    return 1;
  }
  std::printf("spawner_echo: actor replied \"%s\" (%.1f ms, interpreter start-up included), returned \"%s\"\n",
              text.c_str(), elapsed.count(), actor.result().c_str());
  return 0;
}

}  // namespace

int main() {
  PyConfig config;
  PyConfig_InitPythonConfig(&config);  // honours PYTHONPATH
  PyStatus status = Py_InitializeFromConfig(&config);
  PyConfig_Clear(&config);
  if (PyStatus_Exception(status)) Py_ExitStatusException(status);
  // The actor's interpreter is created on its own thread; this one must not
  // hold the GIL while it waits.
  PyThreadState* main_thread = PyEval_SaveThread();
  int rc = 1;
  try {
    rc = run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "spawner_echo: %s\n", e.what());
  }
  // An abandoned actor still runs inside CPython, which cannot be finalized then.
  if (shmring::Spawner::counts().abandoned > 0) {
    std::fflush(nullptr);
    std::_Exit(rc);
  }
  PyEval_RestoreThread(main_thread);
  if (Py_FinalizeEx() < 0) rc = 1;
  return rc;
}
