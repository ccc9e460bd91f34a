#include "app.hpp"

#include <plexus/invoke/router.hpp>

#include <cstdlib>
#include <iostream>

int main(int argc, char** argv) {
  const int status = plexus::cli::plexus_main(argc, argv, std::cin, std::cout, std::cerr);
  // A plugin call abandoned at its deadline may still be running: leave without running the
  // destructors (of the plugin's library among them) under its feet.
  if (plexus::invoke::abandoned_calls() > 0) {
    std::cout.flush();
    std::cerr.flush();
    std::_Exit(status);
  }
  return status;
}
