// Caches of the executor service (service/executor_service.h):
// AnswerCache, the answers of the last requests by request id (so that a
// retried Create gets the ref it already made), and ComputationCache,
// computations decoded and type-checked by their bytes.
//
// Thread-safety: AnswerCache is not thread-safe (its owner locks it);
// ComputationCache may be used from any number of threads.
#ifndef FEDEXEC_SERVICE_ANSWER_CACHE_H_
#define FEDEXEC_SERVICE_ANSWER_CACHE_H_

#include <cstddef>
#include <deque>
#include <list>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "core/mutex.h"
#include "ir/ast.h"

namespace fedexec::service {

// The answers of the last `capacity` request ids, oldest forgotten first.
class AnswerCache {
 public:
  explicit AnswerCache(size_t capacity) : capacity_(capacity) {}

  // The answer of `key`, or null (valid until the next Insert).
  const std::string* Find(const std::string& key) const;
  void Insert(const std::string& key, std::string answer);

 private:
  const size_t capacity_;
  absl::flat_hash_map<std::string, std::string> answers_;
  std::deque<std::string> order_;
};

// Computations decoded and type checked, by their bytes: a client that
// sends the same function every round (a round's lambdas and intrinsics)
// gets the same tree, so it is decoded and checked once, and the reference
// resolving executor, which keeps programs by tree, compiles it once. The
// most recently used `capacity` are kept.
class ComputationCache {
 public:
  explicit ComputationCache(size_t capacity) : capacity_(capacity) {}

  ir::NodePtr Find(const std::string& bytes) FEDEXEC_EXCLUDES(mu_);
  void Insert(const std::string& bytes, ir::NodePtr node) FEDEXEC_EXCLUDES(mu_);

 private:
  struct Entry {
    ir::NodePtr node;
    std::list<std::string>::iterator position;
  };
  const size_t capacity_;
  Mutex mu_;
  absl::flat_hash_map<std::string, Entry> nodes_ FEDEXEC_GUARDED_BY(mu_);
  std::list<std::string> order_ FEDEXEC_GUARDED_BY(mu_);
};

}  // namespace fedexec::service

#endif  // FEDEXEC_SERVICE_ANSWER_CACHE_H_
