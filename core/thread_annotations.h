#pragma once

// Clang thread-safety annotations (as in LevelDB's port/thread_annotations.h); no-ops
// on other compilers. The clang build enables -Wthread-safety.
#if defined(__clang__)
#define STREAMREC_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define STREAMREC_THREAD_ANNOTATION(x)
#endif

#define GUARDED_BY(x) STREAMREC_THREAD_ANNOTATION(guarded_by(x))
#define PT_GUARDED_BY(x) STREAMREC_THREAD_ANNOTATION(pt_guarded_by(x))
#define EXCLUSIVE_LOCKS_REQUIRED(...) STREAMREC_THREAD_ANNOTATION(exclusive_locks_required(__VA_ARGS__))
#define LOCKS_EXCLUDED(...) STREAMREC_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define CAPABILITY(x) STREAMREC_THREAD_ANNOTATION(capability(x))
#define ACQUIRE(...) STREAMREC_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define RELEASE(...) STREAMREC_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define SCOPED_CAPABILITY STREAMREC_THREAD_ANNOTATION(scoped_lockable)
#define NO_THREAD_SAFETY_ANALYSIS STREAMREC_THREAD_ANNOTATION(no_thread_safety_analysis)

#include <mutex>

namespace streamrec {

// std::mutex with capability annotations, so GUARDED_BY can name it.
class CAPABILITY("mutex") Mutex {
 public:
  void Lock() ACQUIRE() { mu_.lock(); }
  void Unlock() RELEASE() { mu_.unlock(); }
  std::mutex& native() { return mu_; }

 private:
  std::mutex mu_;
};

// RAII lock over Mutex.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ACQUIRE(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() RELEASE() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* mu_;
};

}  // namespace streamrec
