// Must NOT pass the thread-safety check (tests/lint/thread_safety.py compiles it first and
// expects clang to report "requires holding mutex"): proof that the check can fail.
#include "services/core/common/mutex.h"

namespace smartbus {

class Counter {
 public:
  void Add() {
    MutexLock lock(mu_);
    ++n_;
  }
  int Read() const { return n_; }  // deliberately without mu_

 private:
  mutable Mutex mu_;
  int n_ ABSL_GUARDED_BY(mu_) = 0;
};

int UseCounter() {
  Counter c;
  c.Add();
  return c.Read();
}

}  // namespace smartbus
