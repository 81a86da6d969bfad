// The two placements of a federated value.
#ifndef FEDEXEC_CORE_PLACEMENT_H_
#define FEDEXEC_CORE_PLACEMENT_H_

#include <optional>
#include <string_view>

namespace fedexec {

enum class Placement { kServer, kClients };

// "SERVER" / "CLIENTS": the spelling of the text syntax.
inline constexpr std::string_view PlacementName(Placement p) {
  return p == Placement::kServer ? "SERVER" : "CLIENTS";
}
// "server" / "clients": the uri of the wire formats.
inline constexpr std::string_view PlacementUri(Placement p) {
  return p == Placement::kServer ? "server" : "clients";
}
inline std::optional<Placement> PlacementFromUri(std::string_view uri) {
  if (uri == "server") return Placement::kServer;
  if (uri == "clients") return Placement::kClients;
  return std::nullopt;
}

}  // namespace fedexec

#endif  // FEDEXEC_CORE_PLACEMENT_H_
