// Computations that use every federated intrinsic, with arguments for any
// number of clients, for tests that compare execution stacks bit for bit
// (composing, remote). Tests only.
#ifndef FEDEXEC_TESTING_INTRINSIC_CASES_H_
#define FEDEXEC_TESTING_INTRINSIC_CASES_H_

#include <cmath>
#include <cstdint>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "core/value.h"
#include "gtest/gtest.h"
#include "ir/ast.h"
#include "ir/text_syntax.h"
#include "ir/type_checker.h"

namespace fedexec::test_util {

inline ir::NodePtr Compile(const std::string& text) {
  auto parsed = ir::ParseComputation(text);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  if (!parsed.ok()) return nullptr;
  auto checked = ir::CheckComputation(*parsed);
  EXPECT_TRUE(checked.ok()) << checked.status();
  return checked.ok() ? *checked : nullptr;
}

// float32[8] per client, of varied magnitudes: a sum's rounding depends
// on the order of its additions.
inline Value FloatClients(int64_t n, uint32_t seed, int dims = 8) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> mantissa(-1.0f, 1.0f);
  std::uniform_int_distribution<int> exponent(-20, 20);
  std::vector<Value> members;
  for (int64_t c = 0; c < n; ++c) {
    std::vector<float> v(static_cast<size_t>(dims));
    for (float& x : v) x = std::ldexp(mantissa(rng), exponent(rng));
    members.emplace_back(dims == 0 ? Tensor::Scalar<float>(v.empty() ? 0 : v[0])
                                   : Tensor::Vector<float>(v));
  }
  return Value::Federated(Placement::kClients, false, std::move(members));
}

inline Value ScalarClients(int64_t n, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<Value> members;
  for (int64_t c = 0; c < n; ++c) {
    members.emplace_back(Tensor::Scalar<float>(
        std::ldexp(u(rng), static_cast<int>(c % 17) - 8)));
  }
  return Value::Federated(Placement::kClients, false, std::move(members));
}

inline Value IntClients(int64_t n, uint32_t seed, int32_t hi, int dims = 4) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> u(0, hi);
  std::vector<Value> members;
  for (int64_t c = 0; c < n; ++c) {
    std::vector<int32_t> v(static_cast<size_t>(dims));
    for (int32_t& x : v) x = u(rng);
    members.emplace_back(Tensor::Vector<int32_t>(v));
  }
  return Value::Federated(Placement::kClients, false, std::move(members));
}

inline Value Server(Value v) {
  std::vector<Value> m;
  m.push_back(std::move(v));
  return Value::Federated(Placement::kServer, true, std::move(m));
}

inline Value Struct(std::vector<std::pair<std::string, Value>> elements) {
  return Value::Struct(std::move(elements));
}

// One computation and its argument for n clients.
struct Case {
  std::string name;
  std::string text;
  std::function<std::optional<Value>(int64_t n)> argument;
};

inline std::vector<Case> Cases() {
  std::vector<Case> cases;
  cases.push_back({"sum", "(x: {float32[8]}@CLIENTS) -> federated_sum(x)",
                   [](int64_t n) { return FloatClients(n, 1); }});
  cases.push_back({"mean", "(x: {float32[8]}@CLIENTS) -> federated_mean(x)",
                   [](int64_t n) { return FloatClients(n, 2); }});
  cases.push_back({"weighted_mean",
                   "(p: <x={float32[8]}@CLIENTS,w={float32}@CLIENTS>) -> "
                   "federated_weighted_mean(p.x, p.w)",
                   [](int64_t n) {
                     return Struct({{"x", FloatClients(n, 3)},
                                    {"w", ScalarClients(n, 4, 0.5f, 2.0f)}});
                   }});
  cases.push_back({"min_max",
                   "(x: {float32[8]}@CLIENTS) -> "
                   "<lo=federated_min(x), hi=federated_max(x)>",
                   [](int64_t n) { return FloatClients(n, 5); }});
  cases.push_back({"secure_sum",
                   "(v: {int32[4]}@CLIENTS) -> federated_secure_sum(v, 1000)",
                   [](int64_t n) { return IntClients(n, 6, 1000); }});
  cases.push_back(
      {"secure_sum_bitwidth",
       "(v: {int32[4]}@CLIENTS) -> federated_secure_sum_bitwidth(v, 8)",
       [](int64_t n) { return IntClients(n, 7, 255); }});
  cases.push_back(
      {"aggregate",
       "(values: {float32}@CLIENTS) -> federated_aggregate(values, "
       "<sum=0.0, count=0.0>, "
       "(p: <<sum=float32,count=float32>,float32>) -> "
       "<sum=generic_plus(p[0].sum, p[1]), count=generic_plus(p[0].count, "
       "1.0)>, "
       "(p: <<sum=float32,count=float32>,<sum=float32,count=float32>>) -> "
       "generic_plus(p[0], p[1]), "
       "(acc: <sum=float32,count=float32>) -> generic_divide(acc.sum, "
       "acc.count))",
       [](int64_t n) { return ScalarClients(n, 8, -1.0f, 1.0f); }});
  cases.push_back(
      {"broadcast_zip_map_mean",
       "(p: <m=float32[8]@SERVER,x={float32[8]}@CLIENTS>) -> "
       "federated_mean(federated_map("
       "(q: <float32[8],float32[8]>) -> generic_multiply(q[0], q[1]), "
       "federated_zip_at_clients(federated_broadcast(p.m), p.x)))",
       [](int64_t n) {
         return Struct(
             {{"m", Server(Value(Tensor::Vector<float>(
                        {1.5f, -2.f, 3.f, 0.25f, 1e3f, 1e-3f, 7.f, -1.f})))},
              {"x", FloatClients(n, 9)}});
       }});
  cases.push_back({"per_client_result",
                   "(x: {float32[8]}@CLIENTS) -> "
                   "federated_map((v: float32[8]) -> generic_plus(v, v), x)",
                   [](int64_t n) { return FloatClients(n, 10); }});
  cases.push_back(
      {"closure_capture",
       "(x: {float32}@CLIENTS) -> let k = 3.0, two = <a=k, b=2.0> in "
       "federated_sum(federated_map((v: float32) -> "
       "generic_multiply(generic_multiply(v, k), two.b), x))",
       [](int64_t n) { return ScalarClients(n, 11, -1.0f, 1.0f); }});
  cases.push_back({"generic_plus_clients",
                   "(p: <a={float32}@CLIENTS,b={float32}@CLIENTS>) -> "
                   "federated_sum(generic_plus(p.a, p.b))",
                   [](int64_t n) {
                     return Struct({{"a", ScalarClients(n, 12, -1.f, 1.f)},
                                    {"b", ScalarClients(n, 13, -1.f, 1.f)}});
                   }});
  cases.push_back(
      {"select",
       "(p: <keys={int32[3]}@CLIENTS,table=float32[4]@SERVER>) -> "
       "federated_select(p.keys, federated_value_at_server(100), p.table, "
       "(q: <float32[4],int32>) -> q[0])",
       [](int64_t n) {
         return Struct(
             {{"keys", IntClients(n, 14, 99, 3)},
              {"table",
               Server(Value(Tensor::Vector<float>({1.f, 2.f, 3.f, 4.f})))}});
       }});
  cases.push_back({"eval_at_clients",
                   "() -> federated_sum(federated_eval_at_clients("
                   "() -> 0.1))",
                   [](int64_t) { return std::nullopt; }});
  cases.push_back(
      {"value_at_clients_sum",
       "(x: float32@SERVER) -> federated_sum(federated_broadcast(x))",
       [](int64_t) { return Server(Value(Tensor::Scalar<float>(0.1f))); }});
  return cases;
}

}  // namespace fedexec::test_util

#endif  // FEDEXEC_TESTING_INTRINSIC_CASES_H_
