#include "tools/cli.h"
namespace fedexec::cli {
int Main(int argc, char** argv) { return 0; }
}  // namespace fedexec::cli
