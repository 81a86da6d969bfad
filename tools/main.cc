#include "tools/cli.h"

int main(int argc, char** argv) { return fedexec::cli::Main(argc, argv); }
