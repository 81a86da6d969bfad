#include "service/answer_cache.h"

#include <utility>

namespace fedexec::service {

const std::string* AnswerCache::Find(const std::string& key) const {
  const auto it = answers_.find(key);
  return it == answers_.end() ? nullptr : &it->second;
}

void AnswerCache::Insert(const std::string& key, std::string answer) {
  if (capacity_ == 0) return;
  if (!answers_.emplace(key, std::move(answer)).second) return;
  order_.push_back(key);
  if (order_.size() > capacity_) {
    answers_.erase(order_.front());
    order_.pop_front();
  }
}

ir::NodePtr ComputationCache::Find(const std::string& bytes) {
  MutexLock lock(mu_);
  auto it = nodes_.find(bytes);
  if (it == nodes_.end()) return nullptr;
  order_.splice(order_.begin(), order_, it->second.position);
  return it->second.node;
}

void ComputationCache::Insert(const std::string& bytes, ir::NodePtr node) {
  MutexLock lock(mu_);
  if (nodes_.contains(bytes)) return;
  order_.push_front(bytes);
  nodes_.emplace(bytes, Entry{std::move(node), order_.begin()});
  if (order_.size() > capacity_) {
    nodes_.erase(order_.back());
    order_.pop_back();
  }
}

}  // namespace fedexec::service
