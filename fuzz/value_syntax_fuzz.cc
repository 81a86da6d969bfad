// Fuzzes the value syntax: any input gives a value or a clean error (files
// are not read); a parsed value prints to text that parses back to an equal
// value and prints identically; a value with a type parses back from its
// text guided by that type, to the same value.
#include <cstddef>
#include <cstdint>
#include <string>

#include "ir/value_syntax.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  fedexec::ir::ValueSyntaxOptions options;
  options.allow_files = false;
  auto value = fedexec::ir::ParseValue(text, options);
  if (!value.ok()) return 0;
  const std::string printed = fedexec::ir::PrintValue(*value);
  auto reparsed = fedexec::ir::ParseValue(printed, options);
  if (!reparsed.ok()) __builtin_trap();
  if (!(*reparsed == *value)) __builtin_trap();
  if (fedexec::ir::PrintValue(*reparsed) != printed) __builtin_trap();

  auto type = fedexec::ir::ValueTypeOf(*value);
  if (!type.ok()) return 0;
  auto typed = fedexec::ir::ParseValueAs(printed, *type, options);
  if (!typed.ok()) __builtin_trap();
  if (!(*typed == *value)) __builtin_trap();
  return 0;
}
