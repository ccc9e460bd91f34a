// The `plexus` command: the CNI plugin kubelet execs (when CNI_COMMAND is set) and a tool for
// people (version, inspect, attach, detach).
#pragma once

#include <iosfwd>

namespace plexus::cli {

int plexus_main(int argc, char** argv, std::istream& in, std::ostream& out, std::ostream& err);

}  // namespace plexus::cli
