#pragma once
// SIGINT and SIGTERM during a run: the first one is recorded, and the training loop finishes
// its current step, saves a checkpoint and stops with Interrupted; a second one ends the
// process at once (the handler resets itself), which still leaves the last checkpoint intact
// because checkpoints are replaced atomically.
#include <exception>
#include <string>

#include "loom/export.hpp"

namespace loom {

// Installs the handlers (the host calls this before running a pipeline).
void install_interrupt_handlers();
// 0, or the number of the signal received since the handlers were installed.
int pending_interrupt();
// Forgets a received signal (after it has been handled).
void clear_interrupt();
// Records `signal` as if it had been received (tests).
void request_interrupt(int signal);

// Thrown by the runner after it has saved; the host exits with 128 + signal (130, 143).
class LOOM_API Interrupted : public std::exception {
 public:
  Interrupted(int signal, std::string message) : signal_(signal), message_(std::move(message)) {}
  ~Interrupted() override;
  int signal() const { return signal_; }
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  int signal_;
  std::string message_;
};

}  // namespace loom
