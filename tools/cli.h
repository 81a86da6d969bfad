// The `fedexec` command-line program: sub-commands check, fmt, run and demo
// (tools/demo_command.h); --help on each, --version, --log-level.
//
// Exit codes: 0 success, 2 bad input (parse, type, argument errors, one line
// on stderr), 1 failure at run time, 130 interrupted.
#ifndef FEDEXEC_TOOLS_CLI_H_
#define FEDEXEC_TOOLS_CLI_H_

namespace fedexec::cli {

int Main(int argc, char** argv);

}  // namespace fedexec::cli

#endif  // FEDEXEC_TOOLS_CLI_H_
