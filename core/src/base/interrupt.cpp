#include "loom/interrupt.hpp"

#include <signal.h>

#include <atomic>

namespace loom {

namespace {

std::atomic<int> g_signal{0};

extern "C" void on_signal(int signal) { g_signal.store(signal, std::memory_order_relaxed); }

}  // namespace

void install_interrupt_handlers() {
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  // SA_RESETHAND: the next signal has its default effect, so a second Ctrl-C ends the
  // process even while a long step or an evaluation is running.
  action.sa_flags = SA_RESETHAND | SA_RESTART;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

int pending_interrupt() { return g_signal.load(std::memory_order_relaxed); }

void clear_interrupt() { g_signal.store(0, std::memory_order_relaxed); }

void request_interrupt(int signal) { g_signal.store(signal, std::memory_order_relaxed); }

}  // namespace loom
